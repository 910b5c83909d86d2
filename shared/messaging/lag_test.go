package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/messaging"
)

func TestPartitionLag_Lag(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		end       int64
		committed int64
		want      int64
	}{
		{"no commit yet", 5, -1, 5},
		{"empty partition without commit", 0, -1, 0},
		{"behind", 5, 3, 2},
		{"caught up", 5, 5, 0},
		{"committed past the end", 5, 7, 0},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			l := messaging.PartitionLag{End: tc.end, Committed: tc.committed}
			if got := l.Lag(); got != tc.want {
				t.Errorf("Lag() with end %d and committed %d = %d, want %d",
					tc.end, tc.committed, got, tc.want)
			}
		})
	}
}

// produceN produces n valid test events.
func (f *fixture) produceN(t testing.TB, n int) {
	t.Helper()

	var msgs []kafka.Message
	for i := range n {
		env := newEnvelope(t, typeTest, testData{N: i})
		msgs = append(msgs, f.message(t, uuid.New(), env))
	}
	f.produce(t, msgs...)
}

func TestWaitCaughtUp_returnsOnceCommitted(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	f.produceN(t, 3)

	if lag := f.lag(t); lag.Committed != -1 {
		t.Fatalf("committed offset before any consumer = %d, want -1",
			lag.Committed)
	}

	// WaitCaughtUp starts before the consumer, so it has to wait.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- messaging.WaitCaughtUp(ctx, f.client, f.group,
			[]string{f.topic}, 50*time.Millisecond)
	}()
	f.startConsumer(t)

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitCaughtUp returned %v, want nil", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("WaitCaughtUp did not return within 90s")
	}

	if lag := f.lag(t); lag.Committed < 3 {
		t.Errorf("committed offset when WaitCaughtUp returned = %d, want 3",
			lag.Committed)
	}
}

func TestWaitCaughtUp_emptyTopic(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	err := messaging.WaitCaughtUp(ctx, f.client, f.group, []string{f.topic},
		50*time.Millisecond)
	if err != nil {
		t.Errorf("WaitCaughtUp on an empty topic returned %v, want nil", err)
	}
}

func TestWaitCaughtUp_timesOutWithLag(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	f.produceN(t, 2)
	stop := f.startConsumer(t)
	f.waitCommitted(t, 2)
	stop()
	f.produceN(t, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := messaging.WaitCaughtUp(ctx, f.client, f.group, []string{f.topic},
		50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitCaughtUp with a stopped group returned %v, want %v",
			err, context.DeadlineExceeded)
	}

	if lag := f.lag(t); lag.Lag() != 3 {
		t.Errorf("lag after the timeout = %d, want the 3 unconsumed events",
			lag.Lag())
	}
}
