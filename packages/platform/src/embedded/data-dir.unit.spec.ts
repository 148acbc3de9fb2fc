import { defaultDataDir } from './data-dir';

describe('defaultDataDir', () => {
  it('is CMIS_DATA_DIR when set, made absolute', () => {
    expect(defaultDataDir({ CMIS_DATA_DIR: '/srv/cmis', XDG_DATA_HOME: '/xdg' }, '/home/ann')).toBe(
      '/srv/cmis',
    );
    expect(defaultDataDir({ CMIS_DATA_DIR: 'state' }, '/home/ann')).toBe(`${process.cwd()}/state`);
  });

  it('is cmis under XDG_DATA_HOME, else under ~/.local/share', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, '/home/ann', 1000)).toBe('/xdg/cmis');
    expect(defaultDataDir({}, '/home/ann', 1000)).toBe('/home/ann/.local/share/cmis');
  });

  it('ignores a relative XDG_DATA_HOME, as the XDG spec says', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: 'relative' }, '/home/ann', 1000)).toBe(
      '/home/ann/.local/share/cmis',
    );
  });

  it('is /var/lib/cmis for root, whose home the postgres account cannot enter', () => {
    expect(defaultDataDir({}, '/root', 0)).toBe('/var/lib/cmis');
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, '/root', 0)).toBe('/xdg/cmis');
  });
});
