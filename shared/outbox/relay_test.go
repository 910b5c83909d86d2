package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/outbox"
	"github.com/kafkablog/blog/shared/postgres"
	"github.com/kafkablog/blog/shared/testenv"
)

// fixture is one test's database with the outbox table and one topic of
// one partition, so the topic's order is the publication order.
type fixture struct {
	pool    *pgxpool.Pool
	brokers []string
	topic   string
	writer  *kafka.Writer
}

func newFixture(t testing.TB) fixture {
	t.Helper()

	url := testenv.Database(t)
	brokers := testenv.Brokers(t)
	ctx := testenv.Context(t, time.Minute)

	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)

	if err := outbox.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate outbox: %v", err)
	}

	topic := testenv.TopicPrefix(t) + event.TopicPosts
	spec := messaging.TopicSpec{Partitions: 1, ReplicationFactor: 1}
	if err := messaging.EnsureTopics(ctx, brokers, spec, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	return fixture{pool: pool, brokers: brokers, topic: topic, writer: writer}
}

// queued is one event stored in the outbox and the record key it got.
type queued struct {
	env    event.Envelope
	postID uuid.UUID
}

func newEvent(t testing.TB, postID uuid.UUID) event.Envelope {
	t.Helper()

	env, err := event.New(event.TypePostCreated, "outbox-test",
		event.PostCreated{ID: postID, Title: "Title <&> 🎉",
			CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatalf("new event: %v", err)
	}

	return env
}

// enqueue stores one event for postID in its own committed transaction.
func (f fixture) enqueue(t testing.TB, postID uuid.UUID) queued {
	t.Helper()

	env := newEvent(t, postID)
	ctx := testenv.Context(t, 30*time.Second)
	err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		return outbox.Enqueue(ctx, tx, f.topic, postID.String(), env)
	})
	if err != nil {
		t.Fatalf("enqueue event %s: %v", env.ID, err)
	}

	return queued{env: env, postID: postID}
}

func (f fixture) outboxRows(t testing.TB) int {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	var n int
	if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil {
		t.Fatalf("count outbox rows: %v", err)
	}

	return n
}

func (f fixture) outboxEmpty() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var n int
	if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil {
		return fmt.Errorf("count outbox rows: %w", err)
	}
	if n != 0 {
		return fmt.Errorf("outbox has %d rows, want 0", n)
	}

	return nil
}

func (f fixture) newRelay(t testing.TB, w outbox.Writer, batchSize int) *outbox.Relay {
	t.Helper()

	relay, err := outbox.NewRelay(f.pool, w, batchSize)
	if err != nil {
		t.Fatalf("NewRelay: %v", err)
	}
	relay.DrainTimeout = 20 * time.Second

	return relay
}

// startRelay runs relay in the background and returns a function that
// cancels it and waits for Run to return. The test's cleanup calls it too.
func startRelay(t testing.TB, relay *outbox.Relay) (stop func()) {
	t.Helper()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()

	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("relay Run returned %v, want nil on shutdown", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("relay Run did not return within 30s of cancellation")
			}
		})
	}
	t.Cleanup(stop)

	return stop
}

// readTopic returns every record in topic at the time of the call, in
// partition and offset order. It reads without a consumer group.
func readTopic(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return nil, fmt.Errorf("metadata of %s: %v", topic, meta.Topics)
	}

	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range meta.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}

	var msgs []kafka.Message
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		part, err := readPartition(ctx, brokers, topic, p.Partition, p.LastOffset)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, part...)
	}

	sort.SliceStable(msgs, func(i, j int) bool {
		return msgs[i].Partition < msgs[j].Partition
	})

	return msgs, nil
}

func readPartition(
	ctx context.Context,
	brokers []string,
	topic string,
	partition int,
	end int64,
) ([]kafka.Message, error) {
	if end == 0 {
		return nil, nil
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
		return nil, fmt.Errorf("seek %s/%d: %w", topic, partition, err)
	}

	var msgs []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d after %d records: %w",
				topic, partition, len(msgs), err)
		}
		msgs = append(msgs, m)
		if m.Offset >= end-1 {
			return msgs, nil
		}
	}
}

func mustReadTopic(t testing.TB, f fixture) []kafka.Message {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	msgs, err := readTopic(ctx, f.brokers, f.topic)
	if err != nil {
		t.Fatalf("read topic %s: %v", f.topic, err)
	}

	return msgs
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}

	return ""
}

func eventIDs(msgs []kafka.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = header(m, event.HeaderID)
	}

	return ids
}

// published returns a check for Eventually that passes once every event
// in want is on the topic.
func (f fixture) published(want ...queued) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		msgs, err := readTopic(ctx, f.brokers, f.topic)
		if err != nil {
			return err
		}

		ids := eventIDs(msgs)
		for _, q := range want {
			if !slices.Contains(ids, q.env.ID.String()) {
				return fmt.Errorf("event %s not on %s yet, topic has %v",
					q.env.ID, f.topic, ids)
			}
		}

		return nil
	}
}

func TestNewRelay_missingDependencies(t *testing.T) {
	t.Parallel()

	if _, err := outbox.NewRelay(nil, &failingWriter{}, 10); err == nil {
		t.Errorf("NewRelay with a nil pool returned nil error, want an error")
	}

	pool, err := pgxpool.New(context.Background(),
		"postgres://127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatalf("create unconnected pool: %v", err)
	}
	defer pool.Close()
	if _, err := outbox.NewRelay(pool, nil, 10); err == nil {
		t.Errorf("NewRelay with a nil writer returned nil error, want an error")
	}
}

func TestRelay_outOfOrderCommit(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	ctx := testenv.Context(t, 2*time.Minute)

	// Transaction A takes the lower id but commits last.
	txA, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin transaction A: %v", err)
	}
	t.Cleanup(func() { txA.Rollback(context.Background()) })

	a := queued{postID: uuid.New()}
	a.env = newEvent(t, a.postID)
	if err := outbox.Enqueue(ctx, txA, f.topic, a.postID.String(), a.env); err != nil {
		t.Fatalf("enqueue A: %v", err)
	}
	var idA int64
	err = txA.QueryRow(ctx, "SELECT id FROM outbox WHERE event_id = $1",
		a.env.ID).Scan(&idA)
	if err != nil {
		t.Fatalf("read outbox id of A: %v", err)
	}

	b := f.enqueue(t, uuid.New())
	var idB int64
	err = f.pool.QueryRow(ctx, "SELECT id FROM outbox WHERE event_id = $1",
		b.env.ID).Scan(&idB)
	if err != nil {
		t.Fatalf("read outbox id of B: %v", err)
	}
	if idA >= idB {
		t.Fatalf("outbox id of A = %d, want below B's %d for this test", idA, idB)
	}

	startRelay(t, f.newRelay(t, f.writer, 0))
	testenv.Eventually(t, 20*time.Second, f.published(b))

	if got := eventIDs(mustReadTopic(t, f)); len(got) != 1 {
		t.Errorf("topic has %v while A is uncommitted, want only B", got)
	}

	if err := txA.Commit(ctx); err != nil {
		t.Fatalf("commit A: %v", err)
	}

	testenv.Eventually(t, 20*time.Second, f.published(a, b))
	testenv.Eventually(t, 20*time.Second, f.outboxEmpty)

	got := eventIDs(mustReadTopic(t, f))
	want := []string{b.env.ID.String(), a.env.ID.String()}
	if !slices.Equal(got, want) {
		t.Errorf("topic event ids = %v, want B then A, each once: %v", got, want)
	}
}

// failingWriter rejects every write, like a broker that is unreachable.
type failingWriter struct {
	calls atomic.Int64
}

func (w *failingWriter) WriteMessages(context.Context, ...kafka.Message) error {
	w.calls.Add(1)
	return errors.New("broker unreachable")
}

func TestRelay_publishesRowsLeftByCrash(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	posts := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	var want []queued
	for i := range 10 {
		want = append(want, f.enqueue(t, posts[i%len(posts)]))
	}

	// A relay whose writes never succeed, as if the process died between
	// the commit and the publication, must leave every row in place.
	failing := &failingWriter{}
	stopFailing := startRelay(t, f.newRelay(t, failing, 0))
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := failing.calls.Load(); n < 2 {
			return fmt.Errorf("failing writer called %d times, want at least 2", n)
		}
		return nil
	})
	stopFailing()

	if n := f.outboxRows(t); n != len(want) {
		t.Fatalf("outbox has %d rows after failed publications, want %d",
			n, len(want))
	}

	// A batch size of 3 makes the new relay publish in several rounds.
	startRelay(t, f.newRelay(t, f.writer, 3))
	testenv.Eventually(t, 30*time.Second, f.outboxEmpty)

	msgs := mustReadTopic(t, f)
	if len(msgs) != len(want) {
		t.Fatalf("topic has %d records, want %d: %v",
			len(msgs), len(want), eventIDs(msgs))
	}

	for i, m := range msgs {
		assertRecord(t, m, want[i])
	}
}

// assertRecord checks that m carries the event q in the contract's form.
func assertRecord(t testing.TB, m kafka.Message, q queued) {
	t.Helper()

	if got := header(m, event.HeaderID); got != q.env.ID.String() {
		t.Errorf("offset %d: event-id header = %q, want %s (enqueue order)",
			m.Offset, got, q.env.ID)
		return
	}
	if string(m.Key) != q.postID.String() {
		t.Errorf("event %s: key = %q, want the post id %s",
			q.env.ID, m.Key, q.postID)
	}
	if got := header(m, event.HeaderType); got != q.env.Type {
		t.Errorf("event %s: event-type header = %q, want %q",
			q.env.ID, got, q.env.Type)
	}
	if got := header(m, event.HeaderContentType); got != event.ContentTypeJSON {
		t.Errorf("event %s: content-type header = %q, want %q",
			q.env.ID, got, event.ContentTypeJSON)
	}
	if len(m.Headers) != 3 {
		t.Errorf("event %s: %d headers, want 3: %v",
			q.env.ID, len(m.Headers), m.Headers)
	}

	payload, err := q.env.Marshal()
	if err != nil {
		t.Fatalf("marshal event %s: %v", q.env.ID, err)
	}
	if string(m.Value) != string(payload) {
		t.Errorf("event %s: value = %s, want the stored payload %s",
			q.env.ID, m.Value, payload)
	}
}

func TestRelay_notifyWakesRelay(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	relay := f.newRelay(t, f.writer, 0)
	relay.Poll = time.Minute
	startRelay(t, relay)

	// Once the first event is out, the relay has finished its start-up
	// round and waits for a notification or its one-minute poll.
	warmUp := f.enqueue(t, uuid.New())
	testenv.Eventually(t, 20*time.Second, f.published(warmUp))

	for i := range 3 {
		q := f.enqueue(t, uuid.New())
		start := time.Now()
		testenv.Eventually(t, 5*time.Second, f.published(q))
		t.Logf("event %d published %s after its commit", i+1,
			time.Since(start).Round(time.Millisecond))
	}
}

func TestRelay_drainsOnShutdown(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// running starts the relay before the events are committed and
		// cancels it right after the last commit. Otherwise Run gets a
		// context that is already cancelled.
		running bool
	}{
		{"cancelled before Run", false},
		{"cancelled right after commit", true},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			f := newFixture(t)
			relay := f.newRelay(t, f.writer, 0)
			relay.Poll = time.Minute

			var want []queued
			if tc.running {
				stop := startRelay(t, relay)
				warmUp := f.enqueue(t, uuid.New())
				testenv.Eventually(t, 20*time.Second, f.published(warmUp))
				want = append(want, warmUp)

				for range 20 {
					want = append(want, f.enqueue(t, uuid.New()))
				}
				stop()
			} else {
				for range 20 {
					want = append(want, f.enqueue(t, uuid.New()))
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if err := relay.Run(ctx); err != nil {
					t.Fatalf("Run returned %v, want nil on shutdown", err)
				}
			}

			// Run has returned, so its drain is over and the checks need
			// no waiting.
			if n := f.outboxRows(t); n != 0 {
				t.Errorf("outbox has %d rows after Run returned, want 0", n)
			}

			ids := eventIDs(mustReadTopic(t, f))
			for _, q := range want {
				if !slices.Contains(ids, q.env.ID.String()) {
					t.Errorf("event %s is not on the topic after shutdown",
						q.env.ID)
				}
			}
			if !tc.running && len(ids) != len(want) {
				t.Errorf("topic has %d records, want %d, one per event",
					len(ids), len(want))
			}
		})
	}
}
