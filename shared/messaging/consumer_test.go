package messaging_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

func TestNewConsumer_invalidConfig(t *testing.T) {
	t.Parallel()

	pool, err := pgxpool.New(context.Background(),
		"postgres://127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatalf("create unconnected pool: %v", err)
	}
	t.Cleanup(pool.Close)

	valid := func() messaging.ConsumerConfig {
		return messaging.ConsumerConfig{
			Brokers: []string{"127.0.0.1:1"},
			GroupID: "group",
			Topics:  []string{"topic"},
			Types:   []string{typeTest},
			Apply: func(context.Context, pgx.Tx, []messaging.Record) error {
				return nil
			},
			Pool:       pool,
			DeadLetter: messaging.NewWriter([]string{"127.0.0.1:1"}),
		}
	}

	tests := []struct {
		name   string
		change func(*messaging.ConsumerConfig)
	}{
		{"no brokers", func(c *messaging.ConsumerConfig) { c.Brokers = nil }},
		{"no group", func(c *messaging.ConsumerConfig) { c.GroupID = "" }},
		{"no topics", func(c *messaging.ConsumerConfig) { c.Topics = nil }},
		{"no apply", func(c *messaging.ConsumerConfig) { c.Apply = nil }},
		{"no pool", func(c *messaging.ConsumerConfig) { c.Pool = nil }},
		{"no dead-letter writer",
			func(c *messaging.ConsumerConfig) { c.DeadLetter = nil }},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			cfg := valid()
			tc.change(&cfg)
			if _, err := messaging.NewConsumer(cfg); err == nil {
				t.Errorf("NewConsumer returned nil error, want an error")
			}
		})
	}
}

func TestConsumer_duplicateEvent(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// sameBatch produces both copies before the consumer starts.
		// Otherwise the copy arrives after the first one was committed.
		sameBatch bool
	}{
		{"in one batch", true},
		{"after the first commit", false},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			f := newFixture(t)
			env := newEnvelope(t, typeTest, testData{N: 7})
			msg := f.message(t, uuid.New(), env)

			if tc.sameBatch {
				f.produce(t, msg, msg)
				f.startConsumer(t)
			} else {
				f.startConsumer(t)
				f.produce(t, msg)
				f.waitCommitted(t, 1)
				f.produce(t, msg)
			}
			f.waitCommitted(t, 2)

			rows := f.rows(t)
			if len(rows) != 1 {
				t.Errorf("applied has %d rows, want 1: %v", len(rows), rows)
			}
			if rows[env.ID] != 7 {
				t.Errorf("applied n for %s = %d, want 7", env.ID, rows[env.ID])
			}
			if n := f.calls.get(env.ID); n != 2 {
				t.Errorf("apply called %d times for the event, want 2, "+
					"once per copy", n)
			}
			if got := readTopic(t, f.brokers, event.DeadLetter(f.topic)); len(got) != 0 {
				t.Errorf("dead-letter topic has %d records, want 0", len(got))
			}
		})
	}
}

// poisonCase is one record of TestConsumer_badEventsDeadLettered.
type poisonCase struct {
	name string
	msg  kafka.Message
	// errText is part of the expected dlq-error header. It is empty when
	// the record must not be dead-lettered.
	errText string
	// eventID is set for events that reach the apply function.
	eventID uuid.UUID
}

func poisonCases(t testing.TB, f *fixture, key uuid.UUID) []poisonCase {
	t.Helper()

	valid1 := newEnvelope(t, typeTest, testData{N: 1})
	unknown := newEnvelope(t, "PostArchived", testData{N: 3})
	version99 := newEnvelope(t, typeTest, testData{N: 5})
	version99.SchemaVersion = 99
	permanent := newEnvelope(t, typeTest, testData{N: 6, Fail: "permanent"})
	transient := newEnvelope(t, typeTest, testData{N: 7, Fail: "transient"})
	valid2 := newEnvelope(t, typeTest, testData{N: 8})

	notJSON := kafka.Message{
		Topic:   f.topic,
		Key:     []byte(key.String()),
		Value:   []byte("not json {"),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("text/plain")}},
	}
	missingID := kafka.Message{
		Topic: f.topic,
		Key:   []byte(key.String()),
		Value: []byte(`{"type":"` + typeTest + `","schema_version":1,` +
			`"producer":"messaging-test","data":{"n":4}}`),
		Headers: []kafka.Header{
			{Key: event.HeaderType, Value: []byte(typeTest)},
			{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
		},
	}

	return []poisonCase{
		{"valid 1", f.message(t, key, valid1), "", valid1.ID},
		{"not JSON", notJSON, "malformed event", uuid.Nil},
		{"unknown type", f.message(t, key, unknown), "", uuid.Nil},
		{"missing id", missingID, "missing id", uuid.Nil},
		{"schema version 99", f.message(t, key, version99),
			"unsupported schema version", uuid.Nil},
		{"permanent failure", f.message(t, key, permanent),
			"the post was deleted", permanent.ID},
		{"transient failure", f.message(t, key, transient),
			"lock timeout", transient.ID},
		{"valid 2", f.message(t, key, valid2), "", valid2.ID},
	}
}

func TestConsumer_badEventsDeadLettered(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	key := uuid.New()
	cases := poisonCases(t, f, key)
	for i := range cases {
		cases[i].msg.Headers = append(cases[i].msg.Headers,
			kafka.Header{Key: "test-case", Value: []byte(cases[i].name)})
	}

	msgs := make([]kafka.Message, len(cases))
	for i, c := range cases {
		msgs[i] = c.msg
	}
	f.produce(t, msgs...)

	// The records of one write call land in order on the one partition.
	produced := readTopic(t, f.brokers, f.topic)
	if len(produced) != len(cases) {
		t.Fatalf("topic has %d records, want %d", len(produced), len(cases))
	}
	for i, m := range produced {
		if name, _ := header(m, "test-case"); name != cases[i].name {
			t.Fatalf("record at offset %d is %q, want %q", m.Offset, name,
				cases[i].name)
		}
	}

	f.startConsumer(t)
	f.waitCommitted(t, int64(len(cases)))

	t.Run("valid events applied", func(t *testing.T) {
		rows := f.rows(t)
		want := map[uuid.UUID]int{cases[0].eventID: 1, cases[7].eventID: 8}
		if len(rows) != len(want) {
			t.Errorf("applied has %d rows, want %d: %v", len(rows), len(want), rows)
		}
		for id, n := range want {
			if rows[id] != n {
				t.Errorf("applied n for %s = %d, want %d", id, rows[id], n)
			}
		}
	})

	t.Run("dead-letter records", func(t *testing.T) {
		var want []int
		for i, c := range cases {
			if c.errText != "" {
				want = append(want, i)
			}
		}

		dead := readTopic(t, f.brokers, event.DeadLetter(f.topic))
		var names []string
		for _, m := range dead {
			name, _ := header(m, "test-case")
			names = append(names, name)
		}
		var wantNames []string
		for _, i := range want {
			wantNames = append(wantNames, cases[i].name)
		}
		if !slices.Equal(names, wantNames) {
			t.Fatalf("dead-letter topic has %q, want %q in log order",
				names, wantNames)
		}

		for j, m := range dead {
			i := want[j]
			assertDeadLetter(t, f, m, produced[i], cases[i].errText)
		}
	})

	t.Run("unknown type skipped", func(t *testing.T) {
		dead := readTopic(t, f.brokers, event.DeadLetter(f.topic))
		for _, m := range dead {
			if name, _ := header(m, "test-case"); name == "unknown type" {
				t.Errorf("unknown event type was dead-lettered at offset %d",
					m.Offset)
			}
		}
	})

	t.Run("retries bounded", func(t *testing.T) {
		retries := f.config().Retries
		permanent := f.calls.get(cases[5].eventID)
		transient := f.calls.get(cases[6].eventID)

		// The batch attempt may or may not reach an event, because the
		// apply function stops at the first failure of its batch.
		if permanent < 1 || permanent > 2 {
			t.Errorf("apply saw the permanent failure %d times, want 1 or 2 "+
				"(no retries)", permanent)
		}
		if transient < retries {
			t.Errorf("apply saw the transient failure %d times, want at "+
				"least the %d retries", transient, retries)
		}
		if transient > retries+1 {
			t.Errorf("apply saw the transient failure %d times, want at most "+
				"%d (one batch attempt and %d retries)", transient, retries+1,
				retries)
		}
	})

	t.Run("offset committed at the end", func(t *testing.T) {
		lag := f.lag(t)
		if lag.End != int64(len(cases)) {
			t.Errorf("partition end = %d, want %d", lag.End, len(cases))
		}
		if lag.Committed != lag.End {
			t.Errorf("committed offset = %d, want the end %d",
				lag.Committed, lag.End)
		}
		if lag.Lag() != 0 {
			t.Errorf("Lag = %d, want 0", lag.Lag())
		}
	})
}

// assertDeadLetter checks that dead is orig with the original key, value
// and headers, followed by the dead-letter headers.
func assertDeadLetter(
	t testing.TB,
	f *fixture,
	dead, orig kafka.Message,
	errText string,
) {
	t.Helper()

	name, _ := header(orig, "test-case")
	if string(dead.Key) != string(orig.Key) {
		t.Errorf("%s: key = %q, want the original %q", name, dead.Key, orig.Key)
	}
	if string(dead.Value) != string(orig.Value) {
		t.Errorf("%s: value = %q, want the original %q",
			name, dead.Value, orig.Value)
	}

	if len(dead.Headers) < len(orig.Headers) {
		t.Fatalf("%s: %d headers, want the %d original ones and more",
			name, len(dead.Headers), len(orig.Headers))
	}
	for i, h := range orig.Headers {
		got := dead.Headers[i]
		if got.Key != h.Key || string(got.Value) != string(h.Value) {
			t.Errorf("%s: header %d = %s=%q, want the original %s=%q",
				name, i, got.Key, got.Value, h.Key, h.Value)
		}
	}

	want := map[string]string{
		messaging.HeaderDLQTopic:     f.topic,
		messaging.HeaderDLQPartition: strconv.Itoa(orig.Partition),
		messaging.HeaderDLQOffset:    strconv.FormatInt(orig.Offset, 10),
		messaging.HeaderDLQGroup:     f.group,
	}
	for key, value := range want {
		got, ok := header(dead, key)
		if !ok {
			t.Errorf("%s: header %s missing", name, key)
			continue
		}
		if got != value {
			t.Errorf("%s: header %s = %q, want %q", name, key, got, value)
		}
	}

	reason, ok := header(dead, messaging.HeaderDLQError)
	if !ok {
		t.Errorf("%s: header %s missing", name, messaging.HeaderDLQError)
	}
	if !strings.Contains(reason, errText) {
		t.Errorf("%s: header %s = %q, want it to contain %q",
			name, messaging.HeaderDLQError, reason, errText)
	}
}

func TestConsumer_resumesAfterRestart(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	var envs []event.Envelope
	produce := func(n int) {
		t.Helper()

		var msgs []kafka.Message
		for range n {
			env := newEnvelope(t, typeTest, testData{N: len(envs)})
			envs = append(envs, env)
			msgs = append(msgs, f.message(t, uuid.New(), env))
		}
		f.produce(t, msgs...)
	}

	produce(5)
	stop := f.startConsumer(t)
	f.waitCommitted(t, 5)
	stop()

	produce(5)
	lag := f.lag(t)
	if lag.Committed != 5 {
		t.Errorf("committed offset while stopped = %d, want 5", lag.Committed)
	}
	if lag.Lag() != 5 {
		t.Errorf("lag while stopped = %d, want the 5 new events", lag.Lag())
	}

	f.startConsumer(t)
	f.waitCommitted(t, 10)

	for i, env := range envs {
		if n := f.calls.get(env.ID); n != 1 {
			t.Errorf("event %d (%s) applied %d times, want 1", i, env.ID, n)
		}
	}
	if rows := f.rows(t); len(rows) != len(envs) {
		t.Errorf("applied has %d rows, want %d", len(rows), len(envs))
	}
}

func TestResetToEarliest(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	var envs []event.Envelope
	var msgs []kafka.Message
	for i := range 4 {
		env := newEnvelope(t, typeTest, testData{N: i})
		envs = append(envs, env)
		msgs = append(msgs, f.message(t, uuid.New(), env))
	}
	f.produce(t, msgs...)

	stop := f.startConsumer(t)
	f.waitCommitted(t, 4)

	ctx := testenv.Context(t, time.Minute)
	_, err := messaging.ResetToEarliest(ctx, f.client, f.group, []string{f.topic})
	var active *messaging.ActiveGroupError
	if !errors.As(err, &active) {
		t.Fatalf("ResetToEarliest with a running consumer returned %v, "+
			"want *ActiveGroupError", err)
	}
	if len(active.Members) != 1 {
		t.Errorf("ActiveGroupError lists %v, want the one running member",
			active.Members)
	}

	stop()
	resets, err := messaging.ResetToEarliest(ctx, f.client, f.group,
		[]string{f.topic})
	if err != nil {
		t.Fatalf("ResetToEarliest after stop returned %v, want nil", err)
	}
	want := []messaging.OffsetReset{{Topic: f.topic, Partition: 0, From: 4, To: 0}}
	if !slices.Equal(resets, want) {
		t.Errorf("ResetToEarliest = %+v, want %+v", resets, want)
	}
	if lag := f.lag(t); lag.Committed != 0 {
		t.Errorf("committed offset after reset = %d, want 0", lag.Committed)
	}

	// The replay applies every event again and changes nothing.
	f.startConsumer(t)
	f.waitCommitted(t, 4)
	for i, env := range envs {
		if n := f.calls.get(env.ID); n != 2 {
			t.Errorf("event %d applied %d times, want 2 (once per pass)", i, n)
		}
	}
	if rows := f.rows(t); len(rows) != len(envs) {
		t.Errorf("applied has %d rows after the replay, want %d",
			len(rows), len(envs))
	}
}

// TestConsumer_hugeBadRecordDeadLettered covers a malformed record close
// to Kafka's default 1 MiB limit. Its dead-letter copy, with the added
// headers, would exceed the limit, so the copy carries a cut value and
// the dlq-truncated header, and the valid event after it is applied.
func TestConsumer_hugeBadRecordDeadLettered(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	key := uuid.New()
	huge := bytes.Repeat([]byte("x"), 1_048_300)
	valid := newEnvelope(t, typeTest, testData{N: 1})
	f.produce(t,
		kafka.Message{Topic: f.topic, Key: []byte(key.String()), Value: huge,
			Headers: []kafka.Header{{Key: event.HeaderID, Value: []byte(key.String())}}},
		f.message(t, key, valid),
	)

	f.startConsumer(t)
	f.waitCommitted(t, 2)

	if rows := f.rows(t); len(rows) != 1 || rows[valid.ID] != 1 {
		t.Errorf("applied rows = %v, want only the valid event", rows)
	}

	dead := readTopic(t, f.brokers, event.DeadLetter(f.topic))
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1", len(dead))
	}

	m := dead[0]
	if len(m.Value) != 256<<10 || !bytes.Equal(m.Value, huge[:len(m.Value)]) {
		t.Errorf("dead-letter value has %d bytes, want the first 262144 "+
			"of the original", len(m.Value))
	}

	cut, _ := header(m, messaging.HeaderDLQTruncated)
	sum := sha256.Sum256(huge)
	want := fmt.Sprintf("value from 1048300 bytes, sha256 %x", sum)
	if cut != want {
		t.Errorf("%s header = %q, want %q", messaging.HeaderDLQTruncated, cut, want)
	}

	if offset, _ := header(m, messaging.HeaderDLQOffset); offset != "0" {
		t.Errorf("%s header = %q, want 0", messaging.HeaderDLQOffset, offset)
	}
}
