import { serviceNameOf } from './telemetry';

describe('serviceNameOf (the service.name of a process)', () => {
  it('is the configured name, else the service whose dist/main.js the process runs, else cmis', () => {
    expect(serviceNameOf({ OTEL_SERVICE_NAME: 'rules-eu' }, '/app/services/rules/dist/main.js')).toBe(
      'rules-eu',
    );
    expect(serviceNameOf({ SERVICE_NAME: 'email' }, '/app/services/rules/dist/main.js')).toBe('email');
    expect(serviceNameOf({}, '/work/main/services/workflows/dist/main.js')).toBe('workflows');
    expect(serviceNameOf({}, 'services/drip/dist/main.js')).toBe('drip');
    expect(serviceNameOf({}, 'C:\\cmis\\services\\email\\dist\\main.js')).toBe('email');
    expect(serviceNameOf({}, '/work/main/packages/cli/dist/main.js')).toBe('cmis');
    expect(serviceNameOf({}, undefined)).toBe('cmis');
  });
});
