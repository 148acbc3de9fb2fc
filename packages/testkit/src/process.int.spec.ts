import { freePort } from './process';

describe('freePort', () => {
  it('never gives this process the same port twice (the kernel may offer a closed one again)', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});
