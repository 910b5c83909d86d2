// Package e2e tests the whole system from outside: HTTP requests through
// the local router and the Kafka topics read with kcat. scripts/test.sh
// starts the system and sets E2E_BLOG_URL and E2E_KAFKA_BROKERS.
package e2e
