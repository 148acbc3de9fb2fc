export {
  WEEKDAYS,
  assertTimeZone,
  inWindow,
  localParts,
  nextTimeOfDay,
  nextWindowOpening,
  windowFault,
  zonedInstant,
  zoneOffsetMs,
  type SendWindow,
  type Weekday,
} from './zoned-time';
