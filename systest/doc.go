// Package systest runs the compiled services as child processes against a
// real Kafka broker and a real PostgreSQL server. It checks that the
// query service's read model survives downtime, a crash, a rebuild and an
// offset reset with Kafka's own tool. The tests read TEST_KAFKA_BROKERS
// and TEST_DATABASE_URL, which `make test` sets.
package systest
