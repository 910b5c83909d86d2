package systest

import (
	"fmt"
	"testing"
	"time"
)

// TestCatchUp_afterDowntime creates posts and comments while query-svc
// is not running, then starts it: once ready, it must serve every post
// and comment with its final status.
func TestCatchUp_afterDowntime(t *testing.T) {
	sys := newSystem(t)
	posts, comments := sys.startWriters()

	led := newLedger()
	sys.seed(posts, comments, led, 200, 1000)
	sys.waitLogged(led)
	sys.waitLagExported(comments, "comments-svc")

	query := sys.start("query-svc")
	took := sys.waitReady(query, 2*time.Minute)
	t.Logf("query-svc ready after %s", took.Round(time.Millisecond))

	sys.checkReadModel(query, comments, led)
}

// TestCatchUp_afterKill kills query-svc with SIGKILL while it applies the
// log, twice, and starts it again: the read model must end up complete,
// with nothing applied twice. Each restart waits about 10 s for Kafka to
// drop the killed member from the group, the services' session timeout.
func TestCatchUp_afterKill(t *testing.T) {
	sys := newSystem(t)
	posts, comments := sys.startWriters()

	led := newLedger()
	sys.seed(posts, comments, led, 200, 1000)
	sys.waitLogged(led)

	for kill := 1; kill <= 2; kill++ {
		pending := totalLag(sys.groupLag())

		// Batches of 10 spread the replay over hundreds of transactions
		// and offset commits, so the kill lands between or inside them.
		query := sys.start("query-svc", "CONSUMER_MAX_BATCH=10")
		applied := sys.killWhileApplying(query, pending)

		left := totalLag(sys.groupLag())
		t.Logf("kill %d: query-svc applied %d of %d pending events; %d "+
			"events not committed", kill, applied, pending, left)
		if left == 0 {
			t.Fatalf("query-svc committed all %d events before the kill "+
				"took effect, so the restart tests nothing", pending)
		}
	}

	query := sys.start("query-svc")
	took := sys.waitReady(query, 2*time.Minute)
	t.Logf("restarted query-svc ready after %s", took.Round(time.Millisecond))

	sys.checkReadModel(query, comments, led)
}

// killWhileApplying polls p's count of applied events and sends SIGKILL
// once it reaches a quarter of total. It returns the count seen before
// the kill and fails the test if p applied all of total first.
func (s *system) killWhileApplying(p *process, total int64) int64 {
	s.t.Helper()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := s.appliedEvents(p)
		if err == nil && n >= total/4 {
			if n >= total {
				s.t.Fatalf("query-svc applied all %d events before the kill; "+
					"lower its CONSUMER_MAX_BATCH", total)
			}
			p.kill(s.t)
			s.logs.note("sent SIGKILL to %s after %d applied events", p.name, n)
			return n
		}

		if p.exited() {
			s.t.Fatalf("%s exited (%v) before the kill", p.name, p.err)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s applied %d of %d events within 2 minutes "+
				"(last error: %v)", p.name, n, total, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCatchUp_partitionWithoutOffset guards the start position on a
// partition where the query group has never committed an offset: after a
// restart, query-svc must read such a partition from its first event,
// not from its end.
func TestCatchUp_partitionWithoutOffset(t *testing.T) {
	sys := newSystem(t)
	posts, comments := sys.startWriters()
	query := sys.start("query-svc")
	sys.waitReady(query, time.Minute)

	led := newLedger()
	w := &postWriter{sys: sys, posts: posts, comments: comments, led: led}

	// Events go to the partition of their post id, so posts are created
	// until two of the three partitions have some; the third has none.
	used := map[int]int{}
	for len(used) < 2 {
		used[partitionOf(w.create("before"))]++
	}
	idle := -1
	for p := range topicPartitions {
		if used[p] == 0 {
			idle = p
		}
	}
	t.Logf("posts by partition before the stop: %v; partition %d has none",
		used, idle)

	sys.waitLogged(led)
	sys.waitCaughtUp()
	sys.checkReadModel(query, comments, led)
	query.stop(t)
	sys.checkOffsetsBeforeRestart(used, idle)

	// While query-svc is stopped, the idle partition gets its first
	// events.
	onIdle := 0
	for onIdle < 3 {
		if partitionOf(w.create("after")) == idle {
			onIdle++
		}
	}
	sys.waitLogged(led)

	query = sys.start("query-svc")
	sys.waitReady(query, time.Minute)
	sys.checkReadModel(query, comments, led)

	for _, l := range sys.groupLag() {
		if l.Committed != l.End {
			t.Errorf("%s/%d: committed offset %d, want the end offset %d",
				l.Topic, l.Partition, l.Committed, l.End)
		}
	}
}

// checkOffsetsBeforeRestart checks the state the partition test needs:
// the group has committed every event of the used partitions and no
// offset on the idle one, which contains no event. The posts topic has
// one event per post, and the comments topic two per post: each post
// got two comments, and each comment a CommentCreated and a
// CommentUpdated event.
func (s *system) checkOffsetsBeforeRestart(used map[int]int, idle int) {
	s.t.Helper()

	perPost := map[string]int64{s.topics().Posts: 1, s.topics().Comments: 4}
	for _, l := range s.groupLag() {
		want := int64(used[l.Partition]) * perPost[l.Topic]
		if l.End != want {
			s.t.Fatalf("%s/%d contains %d events, want %d: the partitions are "+
				"not where the murmur2 partitioner puts them",
				l.Topic, l.Partition, l.End, want)
		}

		wantCommitted := l.End
		if l.Partition == idle {
			wantCommitted = -1
		}
		if l.Committed != wantCommitted {
			s.t.Fatalf("%s/%d: committed offset %d, want %d (-1 is none)",
				l.Topic, l.Partition, l.Committed, wantCommitted)
		}
	}
}

// postWriter creates posts one at a time, each with two comments, and
// numbers them so every comment text from commentTexts is used.
type postWriter struct {
	sys      *system
	posts    *process
	comments *process
	led      *ledger
	n        int
}

// create creates a post titled with tag and its two comments, and
// returns the post's id. At most 100 posts may be created, since the
// tests that use it need a handful and a loop that waits for a partition
// must end.
func (w *postWriter) create(tag string) string {
	w.sys.t.Helper()

	if w.n >= 100 {
		w.sys.t.Fatalf("created %d posts without reaching the expected "+
			"partitions", w.n)
	}

	p, err := w.sys.createPost(w.posts, w.led, fmt.Sprintf("%s post %d", tag, w.n))
	if err != nil {
		w.sys.t.Fatal(err)
	}

	for j := range 2 {
		err := w.sys.createComment(w.comments, w.led, p.ID, 2*w.n+j)
		if err != nil {
			w.sys.t.Fatal(err)
		}
	}
	w.n++

	return p.ID
}
