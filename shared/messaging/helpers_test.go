package messaging_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
	"github.com/kafkablog/blog/shared/testenv"
)

// typeTest is the only event type the test consumers handle.
const typeTest = "TestApplied"

// testData is the payload of a typeTest event. Fail makes the apply
// function fail. "permanent" wraps messaging.ErrPermanent, and "transient"
// returns an error that a retry could fix.
type testData struct {
	N    int    `json:"n"`
	Fail string `json:"fail,omitempty"`
}

// fixture is one test's database with the applied table, one topic of one
// partition with its dead-letter topic, and one consumer group.
type fixture struct {
	brokers []string
	client  *kafka.Client
	pool    *pgxpool.Pool
	writer  *kafka.Writer
	topic   string
	group   string
	calls   *applyCalls
}

func newFixture(t testing.TB) *fixture {
	t.Helper()

	url := testenv.Database(t)
	brokers := testenv.Brokers(t)
	prefix := testenv.TopicPrefix(t)
	ctx := testenv.Context(t, time.Minute)

	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)

	_, err = pool.Exec(ctx, `CREATE TABLE applied (
		event_id uuid PRIMARY KEY,
		n        int  NOT NULL
	)`)
	if err != nil {
		t.Fatalf("create table applied: %v", err)
	}

	topic := prefix + event.TopicComments
	spec := messaging.TopicSpec{Partitions: 1, ReplicationFactor: 1}
	err = messaging.EnsureTopics(ctx, brokers, spec, topic, event.DeadLetter(topic))
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	return &fixture{
		brokers: brokers,
		client:  &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second},
		pool:    pool,
		writer:  writer,
		topic:   topic,
		group:   prefix + "test-group",
		calls:   &applyCalls{n: map[uuid.UUID]int{}},
	}
}

// applyCalls counts how often the apply function saw each event id,
// including calls whose transaction rolled back.
type applyCalls struct {
	mu sync.Mutex
	n  map[uuid.UUID]int
}

func (c *applyCalls) add(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.n[id]++
}

func (c *applyCalls) get(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.n[id]
}

// apply inserts each event into applied once, so a repeat changes nothing.
func (f *fixture) apply(ctx context.Context, tx pgx.Tx, rec messaging.Record) error {
	f.calls.add(rec.Event.ID)

	var data testData
	if err := json.Unmarshal(rec.Event.Data, &data); err != nil {
		return fmt.Errorf("%w: %v", event.ErrMalformed, err)
	}

	switch data.Fail {
	case "permanent":
		return fmt.Errorf("%w: the post was deleted", messaging.ErrPermanent)
	case "transient":
		return errors.New("lock timeout")
	}

	_, err := tx.Exec(ctx, `
		INSERT INTO applied (event_id, n) VALUES ($1, $2)
		ON CONFLICT (event_id) DO NOTHING`, rec.Event.ID, data.N)

	return err
}

func (f *fixture) config() messaging.ConsumerConfig {
	return messaging.ConsumerConfig{
		Brokers:      f.brokers,
		GroupID:      f.group,
		Topics:       []string{f.topic},
		Types:        []string{typeTest},
		Apply:        messaging.Each(f.apply),
		Pool:         f.pool,
		DeadLetter:   f.writer,
		Retries:      2,
		RetryBackoff: 10 * time.Millisecond,
	}
}

// startConsumer runs a new consumer of the fixture's group and returns a
// function that cancels it and waits for Run to return. The test's
// cleanup calls it too.
func (f *fixture) startConsumer(t testing.TB) (stop func()) {
	t.Helper()

	return startConsumerWith(t, f.config())
}

// startConsumerWith runs a consumer built from cfg, as startConsumer does.
func startConsumerWith(t testing.TB, cfg messaging.ConsumerConfig) (stop func()) {
	t.Helper()

	c, err := messaging.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("consumer Run returned %v, want nil on shutdown", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("consumer Run did not return within 30s of cancellation")
			}
		})
	}
	t.Cleanup(stop)

	return stop
}

func newEnvelope(t testing.TB, eventType string, data testData) event.Envelope {
	t.Helper()

	env, err := event.New(eventType, "messaging-test", data)
	if err != nil {
		t.Fatalf("new event: %v", err)
	}

	return env
}

// message returns env as a record with the contract's key and headers.
func (f *fixture) message(t testing.TB, key uuid.UUID, env event.Envelope) kafka.Message {
	t.Helper()

	value, err := env.Marshal()
	if err != nil {
		t.Fatalf("marshal event %s: %v", env.ID, err)
	}

	return kafka.Message{
		Topic: f.topic,
		Key:   []byte(key.String()),
		Value: value,
		Headers: []kafka.Header{
			{Key: event.HeaderType, Value: []byte(env.Type)},
			{Key: event.HeaderID, Value: []byte(env.ID.String())},
			{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
		},
	}
}

func (f *fixture) produce(t testing.TB, msgs ...kafka.Message) {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	if err := f.writer.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d records: %v", len(msgs), err)
	}
}

// lag returns the group's position on the fixture's only partition.
func (f *fixture) lag(t testing.TB) messaging.PartitionLag {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	lags, err := messaging.GroupLag(ctx, f.client, f.group, []string{f.topic})
	if err != nil {
		t.Fatalf("GroupLag: %v", err)
	}
	if len(lags) != 1 {
		t.Fatalf("GroupLag returned %d partitions, want 1: %+v", len(lags), lags)
	}

	return lags[0]
}

// waitCommitted waits until the partition's end offset and the group's
// committed offset both equal end.
func (f *fixture) waitCommitted(t testing.TB, end int64) {
	t.Helper()

	testenv.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		lags, err := messaging.GroupLag(ctx, f.client, f.group, []string{f.topic})
		if err != nil {
			return err
		}
		if len(lags) != 1 || lags[0].End != end || lags[0].Committed != end {
			return fmt.Errorf("group %s at %+v, want end and committed %d",
				f.group, lags, end)
		}
		return nil
	})
}

// rows returns the applied table as event id -> n.
func (f *fixture) rows(t testing.TB) map[uuid.UUID]int {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	rows, err := f.pool.Query(ctx, "SELECT event_id, n FROM applied")
	if err != nil {
		t.Fatalf("select applied rows: %v", err)
	}

	out := map[uuid.UUID]int{}
	for rows.Next() {
		var id uuid.UUID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatalf("scan applied row: %v", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("select applied rows: %v", err)
	}

	return out
}

// readTopic returns every record in topic at the time of the call, in
// partition and offset order. It reads without a consumer group.
func readTopic(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v", topic, meta.Topics)
	}

	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range meta.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}

	var msgs []kafka.Message
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset of %s/%d: %v", topic, p.Partition, p.Error)
		}
		msgs = append(msgs,
			readPartition(ctx, t, brokers, topic, p.Partition, p.LastOffset)...)
	}

	sort.SliceStable(msgs, func(i, j int) bool {
		return msgs[i].Partition < msgs[j].Partition
	})

	return msgs
}

func readPartition(
	ctx context.Context,
	t testing.TB,
	brokers []string,
	topic string,
	partition int,
	end int64,
) []kafka.Message {
	t.Helper()

	if end == 0 {
		return nil
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()

	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatalf("seek %s/%d: %v", topic, partition, err)
	}

	var msgs []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d after %d records: %v",
				topic, partition, len(msgs), err)
		}
		msgs = append(msgs, m)
		if m.Offset >= end-1 {
			return msgs
		}
	}
}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}

	return "", false
}
