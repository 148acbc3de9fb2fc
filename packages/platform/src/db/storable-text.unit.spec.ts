import { findUnstorableText, isStorableText } from './storable-text';

describe('text Postgres can store', () => {
  it.each([
    ['plain ascii', 'hello'],
    ['an astral character (a surrogate pair)', 'rocket \ud83d\ude80'],
    ['the replacement character', '\ufffd'],
    ['an empty string', ''],
  ])('keeps %s', (_, text) => {
    expect(isStorableText(text)).toBe(true);
  });

  it.each([
    ['a NUL', 'a\u0000b'],
    ['a lone high surrogate', 'a\ud83d'],
    ['a lone low surrogate', '\ude80b'],
    ['two high surrogates', '\ud83d\ud83d\ude80'],
    ['a reversed pair', '\ude80\ud83d'],
  ])('refuses %s', (_, text) => {
    expect(isStorableText(text)).toBe(false);
  });

  it('names the path of the first bad string, in values, array items and keys', () => {
    expect(findUnstorableText({ a: 1, b: ['ok', { c: 'x\u0000' }] }, 'body')).toBe('body.b.1.c');
    expect(findUnstorableText({ properties: { ['k\ud800']: 1 } }, 'body')).toBe('body.properties.k\ud800');
    expect(findUnstorableText('\udc00')).toBe('$');
    expect(findUnstorableText({ a: null, b: true, c: 3, d: ['fine', { e: 'fine' }] })).toBeNull();
  });
});
