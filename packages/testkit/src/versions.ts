/**
 * The broker and registry the test kit runs. Kafka 4.3.1 is the newest release on Maven
 * Central and passes the kit's kafkajs 2.2.4 checks (produce, consumer groups, admin,
 * idempotent producer); see README "Test infrastructure".
 */
export const KAFKA_VERSION = '4.3.1';
export const LOG4J_VERSION = '2.24.3';
/**
 * Apicurio 3.0.9 is the newest 3.x release whose `all` zip is on Maven Central (3.3.x ships
 * none). Its zip holds a Quarkus runner jar with lib/, started with `java -jar`.
 */
export const APICURIO_VERSION = '3.0.9';
