import { defaultDataDir } from './data-dir';

describe('defaultDataDir', () => {
  it('is CMIS_DATA_DIR when set, made absolute', () => {
    expect(defaultDataDir({ CMIS_DATA_DIR: '/srv/cmis', XDG_DATA_HOME: '/xdg' }, '/home/ann')).toBe(
      '/srv/cmis',
    );
    expect(defaultDataDir({ CMIS_DATA_DIR: 'state' }, '/home/ann')).toBe(`${process.cwd()}/state`);
  });

  it('is cmis under XDG_DATA_HOME, else under ~/.local/share', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, '/home/ann')).toBe('/xdg/cmis');
    expect(defaultDataDir({}, '/home/ann')).toBe('/home/ann/.local/share/cmis');
  });

  it('ignores a relative XDG_DATA_HOME, as the XDG spec says', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: 'relative' }, '/home/ann')).toBe('/home/ann/.local/share/cmis');
  });
});
