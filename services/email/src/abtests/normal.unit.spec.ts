import { erf, erfc, normalCdf, twoSidedP } from './normal';

// Reference values to 16 digits (DLMF, Abramowitz–Stegun table 7.1, and mpmath at 30 digits).
const relative = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

describe('the normal distribution', () => {
  it.each([
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [-1.5, -0.9661051464753108],
  ])('erf(%d) to 1e-14', (x, expected) => {
    expect(relative(erf(x), expected)).toBeLessThan(1e-14);
  });

  it.each([
    [1, 0.1572992070502851],
    [2.5, 4.06952017444959e-4],
    [3, 2.209049699858544e-5],
    [5, 1.537459794428035e-12],
    [10, 2.088487583762545e-45],
  ])('erfc(%d) to 1e-13 relative, also in the tail', (x, expected) => {
    expect(relative(erfc(x), expected)).toBeLessThan(1e-13);
  });

  it('is continuous where the series hands over to the continued fraction', () => {
    const [below, above] = [erfc(2.5 - 1e-12), erfc(2.5)];
    expect(relative(below, above)).toBeLessThan(1e-10);
  });

  it('gives Φ and two-sided p-values of textbook quantiles', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(relative(normalCdf(1.96), 0.9750021048517795)).toBeLessThan(1e-14);
    expect(relative(normalCdf(-3), 0.0013498980316301)).toBeLessThan(1e-12);
    expect(twoSidedP(1.959963984540054)).toBeCloseTo(0.05, 14);
    expect(twoSidedP(-2.5758293035489)).toBeCloseTo(0.01, 13);
    expect(twoSidedP(0)).toBe(1);
  });
});
