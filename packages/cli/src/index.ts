export { startAllInOne, StartupError, type AllInOneOptions, type RunningPlatform } from './all-in-one';
export { runDemo } from './demo';
export { runAdminCommand, provision, type AdminCommand } from './admin-commands';
export { SERVICES, type ServiceEntry, type DemoContext } from './services';
