import { apiKeyFrom, apiKeyFromHeaders, hashApiKey, keyIdOf } from './api-key';

describe('API keys', () => {
  const issued = apiKeyFrom(Buffer.alloc(8, 0xab), Buffer.alloc(32, 7));

  it('are cmis_<keyId>_<secret>, and only their sha256 is kept', () => {
    expect(issued.keyId).toBe('abababababababab');
    expect(issued.key).toMatch(/^cmis_abababababababab_[A-Za-z0-9_-]{43}$/);
    expect(issued.hash).toBe(hashApiKey(issued.key));
    expect(issued.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.prefix).toBe(issued.key.slice(0, 13));
  });

  it('name their key id only when well formed', () => {
    expect(keyIdOf(issued.key)).toBe('abababababababab');
    expect(keyIdOf('cmis_short_x')).toBeUndefined();
    expect(keyIdOf(`${issued.key}x`)).toBeUndefined();
  });

  it('come from Authorization: Bearer or X-API-Key', () => {
    expect(apiKeyFromHeaders({ authorization: `Bearer ${issued.key}` })).toBe(issued.key);
    expect(apiKeyFromHeaders({ 'x-api-key': issued.key })).toBe(issued.key);
    expect(apiKeyFromHeaders({ authorization: `Basic abc` })).toBeUndefined();
    expect(apiKeyFromHeaders({})).toBeUndefined();
  });

  it('refuse the wrong amount of randomness', () => {
    expect(() => apiKeyFrom(Buffer.alloc(4), Buffer.alloc(32))).toThrow();
  });
});
