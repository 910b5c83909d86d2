package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkablog/blog/shared/messaging"
)

// Exit statuses of `query-svc rebuild`.
const (
	rebuildOK          = 0
	rebuildGroupActive = 3
)

// startSettled starts every service, creates nPosts posts with nComments
// comments, and waits until query-svc has applied all of them and shows
// them correctly. It returns posts-svc, comments-svc, query-svc and the
// ledger.
func (s *system) startSettled(nPosts, nComments int) (posts, comments, query *process, led *ledger) {
	s.t.Helper()

	posts, comments = s.startWriters()
	query = s.start("query-svc")
	s.waitReady(query, time.Minute)
	led = newLedger()
	s.seed(posts, comments, led, nPosts, nComments)
	s.waitLogged(led)
	s.waitCaughtUp()
	s.checkReadModel(query, comments, led)

	return posts, comments, query, led
}

// TestRebuild_equalsReplacedReadModel rebuilds the read model twice in a
// row: each time the replayed read model must be byte for byte the one
// it replaced. The first replay runs with the default batch size, which
// writes with COPY. The second applies one event per transaction, which
// writes row by row and takes seconds, so a query-svc that reported ready
// before it caught up would be seen serving a partial read model.
func TestRebuild_equalsReplacedReadModel(t *testing.T) {
	sys := newSystem(t)
	_, _, query, led := sys.startSettled(200, 1000)
	before := sys.listPosts(query)
	nPosts, nComments := led.counts()

	for round, settings := range [][]string{nil, {"CONSUMER_MAX_BATCH=1"}} {
		query.stop(t)
		lags := sys.groupLag()

		res := sys.rebuild()
		sys.checkRebuildReport(res, lags, nPosts, nComments)

		query = sys.start("query-svc", settings...)
		took := sys.waitReady(query, 2*time.Minute)
		t.Logf("rebuild %d %v: query-svc ready after %s", round+1, settings,
			took.Round(time.Millisecond))

		sys.checkReplayed(query, lags)
		checkSameBytes(t, fmt.Sprintf("GET %s after rebuild %d", listPath, round+1),
			sys.listPosts(query), before)
		if t.Failed() {
			return
		}
	}
}

// reportLine matches a partition line of the rebuild report, as in
// "  blog.posts/0: 12 -> 0".
var reportLine = regexp.MustCompile(`(?m)^  (\S+)/(\d+): (none|\d+) -> (\d+)$`)

// checkRebuildReport checks that the rebuild succeeded and reported the
// rows it removed. For every partition of the query service's topics,
// the report must show the committed offset before (from lags) and the
// earliest offset after, which is 0 because the log keeps every event.
func (s *system) checkRebuildReport(
	res rebuildResult,
	lags []messaging.PartitionLag,
	nPosts, nComments int,
) {
	s.t.Helper()

	if res.code != rebuildOK {
		s.t.Fatalf("query-svc rebuild exited with status %d, want 0; "+
			"stderr:\n%s", res.code, res.stderr)
	}

	emptied := fmt.Sprintf("read model emptied: %d posts and %d comments "+
		"removed", nPosts, nComments)
	if !strings.Contains(res.stdout, emptied) {
		s.t.Errorf("rebuild output lacks %q:\n%s", emptied, res.stdout)
	}

	reported := map[string][2]string{}
	for _, m := range reportLine.FindAllStringSubmatch(res.stdout, -1) {
		reported[m[1]+"/"+m[2]] = [2]string{m[3], m[4]}
	}

	if len(reported) != 2*topicPartitions {
		s.t.Errorf("rebuild reported %d partitions, want %d:\n%s",
			len(reported), 2*topicPartitions, res.stdout)
	}

	for _, l := range lags {
		key := fmt.Sprintf("%s/%d", l.Topic, l.Partition)
		from := strconv.FormatInt(l.Committed, 10)
		if l.Committed < 0 {
			from = "none"
		}

		got, ok := reported[key]
		switch {
		case !ok:
			s.t.Errorf("rebuild did not report %s, want %s -> 0", key, from)
		case got != [2]string{from, "0"}:
			s.t.Errorf("rebuild reported %s: %s -> %s, want %s -> 0", key,
				got[0], got[1], from)
		}
	}
}

// checkReplayed checks, right after query-svc became ready, that it
// applied at least every event the topics contained according to lags, which
// shows it replayed the log instead of resuming where it was.
func (s *system) checkReplayed(query *process, lags []messaging.PartitionLag) {
	s.t.Helper()

	var events int64
	for _, l := range lags {
		events += l.End
	}

	applied, err := s.appliedEvents(query)
	if err != nil {
		s.t.Fatal(err)
	}
	if applied < events {
		s.t.Errorf("query-svc applied %d events, want the whole log of %d",
			applied, events)
	}
}

// TestRebuild_whileWriting stops, rebuilds and restarts query-svc while
// a writer keeps creating posts and comments: afterwards the read model
// must be the one before plus exactly the new posts, each comment once.
func TestRebuild_whileWriting(t *testing.T) {
	sys := newSystem(t)
	posts, comments, query, led := sys.startSettled(30, 120)
	snapshot := sys.listPosts(query)
	oldPosts, oldComments := led.counts()

	w := sys.startLiveWriter(posts, comments, led)
	w.waitPosts(5)
	query.stop(t)
	w.waitPosts(10)
	res := sys.rebuild()
	if res.code != rebuildOK {
		t.Fatalf("query-svc rebuild exited with status %d, want 0; "+
			"stderr:\n%s", res.code, res.stderr)
	}
	w.waitPosts(15)
	query = sys.start("query-svc")
	sys.waitReady(query, 2*time.Minute)
	w.waitPosts(25)
	w.stop()

	nPosts, nComments := led.counts()
	t.Logf("the writer created %d posts and %d comments", nPosts-oldPosts,
		nComments-oldComments)
	sys.waitLogged(led)
	sys.waitCaughtUp()

	final := sys.listPosts(query)
	checkSnapshotKept(t, final, snapshot, nPosts-oldPosts)
	sys.checkReadModel(query, comments, led)
	sys.checkPostsSvc(posts, final)
}

// liveWriter creates posts, each with two comments, one after another
// until stopped. It is what users do while an operator rebuilds.
type liveWriter struct {
	t     *testing.T
	quit  chan struct{}
	done  chan error
	mu    sync.Mutex
	posts int
}

// startLiveWriter starts a writer that records into led.
func (s *system) startLiveWriter(posts, comments *process, led *ledger) *liveWriter {
	w := &liveWriter{t: s.t, quit: make(chan struct{}), done: make(chan error, 1)}

	go func() {
		for i := 0; ; i++ {
			select {
			case <-w.quit:
				w.done <- nil
				return
			default:
			}

			p, err := s.createPost(posts, led, fmt.Sprintf("live post %d", i))
			for j := 0; err == nil && j < 2; j++ {
				err = s.createComment(comments, led, p.ID, 1000+2*i+j)
			}
			if err != nil {
				w.done <- err
				return
			}

			w.mu.Lock()
			w.posts++
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	return w
}

// waitPosts blocks until the writer has created n posts in all. It fails
// the test if the writer fails or takes longer than a minute.
func (w *liveWriter) waitPosts(n int) {
	w.t.Helper()

	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		created := w.posts
		w.mu.Unlock()
		if created >= n {
			return
		}

		select {
		case err := <-w.done:
			w.t.Fatalf("writer stopped after %d posts: %v", created, err)
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("writer created %d posts in a minute, want %d",
				created, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the writer after its current post and fails the test if
// the writer failed.
func (w *liveWriter) stop() {
	w.t.Helper()

	close(w.quit)
	if err := <-w.done; err != nil {
		w.t.Fatalf("writer: %v", err)
	}
}

// checkSnapshotKept checks that final lists the posts of snapshot last,
// each byte for byte as before, after exactly added new posts.
func checkSnapshotKept(t *testing.T, final, snapshot []byte, added int) {
	t.Helper()

	var got, old []json.RawMessage
	if err := json.Unmarshal(final, &got); err != nil {
		t.Fatalf("decode GET %s: %v", listPath, err)
	}
	if err := json.Unmarshal(snapshot, &old); err != nil {
		t.Fatalf("decode the snapshot: %v", err)
	}

	if len(got) != len(old)+added {
		t.Fatalf("GET %s has %d posts, want %d from before the rebuild "+
			"and %d new ones", listPath, len(got), len(old), added)
	}

	for i, want := range old {
		checkSameBytes(t, fmt.Sprintf("post %d from before the rebuild", i),
			got[added+i], want)
	}
}

// checkPostsSvc checks that posts-svc stores exactly the posts in list,
// the body of the query service's GET /posts, with the same titles and
// creation times, in the same order.
func (s *system) checkPostsSvc(posts *process, list []byte) {
	s.t.Helper()

	body, err := s.getOK(posts.url(listPath))
	if err != nil {
		s.t.Fatal(err)
	}

	type row struct {
		ID        string    `json:"id"`
		Title     string    `json:"title"`
		CreatedAt time.Time `json:"created_at"`
	}
	var stored []row
	if err := decodeStrict(body, &stored); err != nil {
		s.t.Fatalf("posts-svc GET %s: %v", listPath, err)
	}

	var views []postView
	if err := json.Unmarshal(list, &views); err != nil {
		s.t.Fatalf("decode GET %s: %v", listPath, err)
	}

	if len(stored) != len(views) {
		s.t.Fatalf("posts-svc stores %d posts, query-svc shows %d",
			len(stored), len(views))
	}
	for i, h := range stored {
		v := views[i]
		if h.ID != v.ID || h.Title != v.Title || !h.CreatedAt.Equal(v.CreatedAt) {
			s.t.Errorf("post %d: posts-svc stores %+v, query-svc shows %s %q %s",
				i, h, v.ID, v.Title, v.CreatedAt)
		}
	}
}

// TestRebuild_refusedWhileRunning runs the rebuild while query-svc is a
// member of its group: it must exit with status 3, tell the operator to
// scale the service to zero, and change neither the read model nor the
// committed offsets.
func TestRebuild_refusedWhileRunning(t *testing.T) {
	sys := newSystem(t)
	_, _, query, _ := sys.startSettled(20, 60)
	before := sys.listPosts(query)
	offsets := committed(sys.groupLag())

	res := sys.rebuild()
	if res.code != rebuildGroupActive {
		t.Errorf("query-svc rebuild exited with status %d, want %d; "+
			"stdout:\n%s\nstderr:\n%s", res.code, rebuildGroupActive,
			res.stdout, res.stderr)
	}

	stderr := strings.ToLower(res.stderr)
	for _, want := range []string{
		"scale query-svc to zero", "--replicas=0", "nothing was changed",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("rebuild stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stdout, "read model emptied") {
		t.Errorf("refused rebuild reported a reset:\n%s", res.stdout)
	}

	checkSameBytes(t, "GET "+listPath+" after the refused rebuild",
		sys.listPosts(query), before)
	if after := committed(sys.groupLag()); !maps.Equal(after, offsets) {
		t.Errorf("committed offsets changed by the refused rebuild:\n"+
			"before %v\n after %v", offsets, after)
	}

	sys.checkStillMember(query)
}

// checkStillMember checks that query is still in its group and ready.
func (s *system) checkStillMember(query *process) {
	s.t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	members, err := messaging.GroupMembers(ctx, s.kafkaClient(), s.queryGroup())
	if err != nil {
		s.t.Fatal(err)
	}
	if len(members) != 1 {
		s.t.Errorf("group %s has members %v, want the one query-svc",
			s.queryGroup(), members)
	}

	status, body, err := s.do(http.MethodGet, query.url("/readyz"), nil)
	if err != nil || status != http.StatusOK {
		s.t.Errorf("query-svc /readyz after the refused rebuild: status %d, "+
			"error %v, body %s", status, err, bytes.TrimSpace(body))
	}
}

// TestResetOffsets_kafkaTool rewinds the query group with Kafka's own
// kafka-consumer-groups tool instead of the rebuild command. The read
// model is not emptied, so the replay goes over the existing rows and
// must leave GET /posts byte for byte as it was.
func TestResetOffsets_kafkaTool(t *testing.T) {
	sys := newSystem(t)
	_, _, query, _ := sys.startSettled(30, 120)
	before := sys.listPosts(query)
	query.stop(t)

	out := sys.kafkaTool("kafka-consumer-groups",
		"--bootstrap-server", strings.Join(sys.brokers, ","),
		"--group", sys.queryGroup(),
		"--reset-offsets", "--to-earliest", "--all-topics", "--execute")
	for _, topic := range sys.queryTopics() {
		if !strings.Contains(out, topic) {
			t.Errorf("kafka-consumer-groups output does not name %s:\n%s",
				topic, out)
		}
	}

	lags := sys.groupLag()
	for _, l := range lags {
		if l.End > 0 && l.Committed != 0 {
			t.Errorf("%s/%d: committed offset %d after the reset, want 0",
				l.Topic, l.Partition, l.Committed)
		}
	}

	query = sys.start("query-svc")
	took := sys.waitReady(query, 2*time.Minute)
	t.Logf("query-svc ready after %s", took.Round(time.Millisecond))

	sys.checkReplayed(query, lags)
	checkSameBytes(t, "GET "+listPath+" after the offset reset",
		sys.listPosts(query), before)
}
