package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/testenv"
)

// Traffic bounds of the rollout test: two clients, one post and two
// comments per round, at most maxPosts posts in all.
const (
	trafficClients = 2
	maxPosts       = 150
	roundPause     = 100 * time.Millisecond
	// maxAttempts bounds a client's retries of one request that failed with
	// a connection error or a non-2xx status.
	maxAttempts = 20
)

// rolloutOrder is the order in which the services are restarted.
var rolloutOrder = []string{"posts-svc", "comments-svc", "moderation-svc", "query-svc"}

// cluster is the whole system on the test's Kafka and PostgreSQL, with the
// environment of the manifests.
type cluster struct {
	t        *testing.T
	set      Set
	binaries map[string]string
	env      map[string]map[string]string
	eps      *endpoints
	running  map[string]*instance
	proxy    string
	brokers  []string
	prefix   string
}

// serviceEnv returns the environment that container gets in the cluster,
// with the Kafka and PostgreSQL addresses replaced by the test's, a free
// 127.0.0.1 listen address and a topic prefix of its own.
func serviceEnv(t *testing.T, set Set, c *goContainer, brokers []string,
	databaseURL, prefix string) map[string]string {
	t.Helper()

	env, err := ContainerEnv(set, c.Container, podFields)
	if err != nil {
		t.Fatal(err)
	}
	m := EnvMap(env)
	for _, name := range []string{"DATABASE_URL", "KAFKA_BROKERS"} {
		if _, ok := m[name]; !ok {
			t.Fatalf("%s %s does not set %s", c.Workload.Kind, c.Workload.Name, name)
		}
	}

	m["DATABASE_URL"] = databaseURL
	m["KAFKA_BROKERS"] = strings.Join(brokers, ",")
	m["KAFKA_TOPIC_PREFIX"] = prefix
	if _, ok := m["HTTP_ADDR"]; ok {
		m["HTTP_ADDR"] = localAddr(t)
	}

	return m
}

func newCluster(t *testing.T) *cluster {
	t.Helper()

	brokers := testenv.Brokers(t)
	set := loadSet(t, defaultGlobs...)
	c := &cluster{t: t, set: set, binaries: serviceBinaries(t),
		env: map[string]map[string]string{}, eps: newEndpoints(),
		running: map[string]*instance{}, brokers: brokers,
		prefix: testenv.TopicPrefix(t)}

	for image, list := range goWorkloads(t, set) {
		gc := list[0]
		c.env[image] = serviceEnv(t, set, &gc, brokers, testenv.Database(t), c.prefix)
	}

	router := newIngressRouter(t, set)
	c.proxy = newIngressProxy(t, set, router, c.eps).URL

	return c
}

// start runs a new instance of image and waits until its readiness probe
// path returns 200, then checks its other probe paths.
func (c *cluster) start(image string) *instance {
	t := c.t
	t.Helper()

	env := maps.Clone(c.env[image])
	if _, ok := env["HTTP_ADDR"]; ok {
		env["HTTP_ADDR"] = localAddr(t)
	}
	inst := startInstance(t, image, c.binaries[image], env)

	gc := goWorkloads(t, c.set)[image][0].Container
	if err := inst.waitHTTP(gc.ReadinessProbe.HTTPGet.Path, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{gc.LivenessProbe.HTTPGet.Path, gc.StartupProbe.HTTPGet.Path} {
		if err := inst.waitHTTP(p, 5*time.Second); err != nil {
			t.Fatalf("probe path: %v", err)
		}
	}

	return inst
}

// roll replaces the running instance of image the way a rolling update
// with maxSurge 1 and maxUnavailable 0 does: the new instance starts and
// becomes ready, both serve, the old one gets SIGTERM while it still
// receives requests (endpoint removal lags behind in a real cluster), and
// then only the new one serves. It returns the old instance's time from
// SIGTERM to exit.
func (c *cluster) roll(image string, limit time.Duration) time.Duration {
	t := c.t
	t.Helper()

	old := c.running[image]
	fresh := c.start(image)
	c.eps.set(image, old.addr, fresh.addr)
	time.Sleep(300 * time.Millisecond)

	type result struct {
		d   time.Duration
		err error
	}
	stopped := make(chan result, 1)
	go func() {
		d, err := old.stop(limit)
		stopped <- result{d, err}
	}()
	time.Sleep(300 * time.Millisecond)
	c.eps.set(image, fresh.addr)
	c.running[image] = fresh

	r := <-stopped
	if r.err != nil {
		t.Errorf("%s: old instance after SIGTERM: %v\n%s", image, r.err, old.logTail(15))
	}

	return r.d
}

// ledger records the responses the clients received.
type ledger struct {
	mu sync.Mutex
	// posts maps each accepted post id to its title.
	posts map[string]string
	// comments maps each accepted comment id to its expected final status.
	comments map[string]expectedComment
	// statuses counts responses by request kind and status.
	statuses map[string]int
	failed   []string
	// unsure counts, by title or comment text, the requests that got no
	// response (a connection error or a proxy's 502 to 504): the service may
	// have stored them, as with a client timeout on a real cluster.
	unsure map[string]int
}

type expectedComment struct {
	postID, content, status string
}

// noteUnsure records a request body whose outcome the client never
// learned.
func (l *ledger) noteUnsure(body any) {
	fields, ok := body.(map[string]string)
	if !ok {
		return
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, text := range fields {
		l.unsure[text]++
	}
}

// explainedByUnsure reports whether text matches a request that got no
// response and is not yet used to explain another item, and uses it up.
func (l *ledger) explainedByUnsure(text string) bool {
	if l.unsure[text] == 0 {
		return false
	}

	l.unsure[text]--
	return true
}

func (l *ledger) count(kind string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[fmt.Sprintf("%s %d", kind, status)]++
}

// send posts body to url until a 2xx response or maxAttempts, and decodes
// the response into out. Status 0 stands for a connection error.
func (l *ledger) send(ctx context.Context, client *http.Client, kind, url string,
	body func(attempt int) any, out any) bool {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		data, _ := json.Marshal(body(attempt))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		req.Host = ingressHost

		resp, err := client.Do(req)
		status := 0
		if err != nil || (resp.StatusCode >= 502 && resp.StatusCode <= 504) {
			l.noteUnsure(body(attempt))
		}
		if err == nil {
			status = resp.StatusCode
			if status/100 == 2 {
				err = json.NewDecoder(resp.Body).Decode(out)
			}
			resp.Body.Close()
		}
		l.count(kind, status)
		if err == nil && status/100 == 2 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(150 * time.Millisecond)
	}

	l.mu.Lock()
	l.failed = append(l.failed, kind+" "+url)
	l.mu.Unlock()
	return false
}

// drive runs one client until ctx ends or the post budget is used up.
func (l *ledger) drive(ctx context.Context, proxy string, client int, budget chan struct{}) {
	httpClient := &http.Client{Timeout: 15 * time.Second}
	for round := 0; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-budget:
		default:
			return
		}

		var post struct{ ID string }
		title := func(attempt int) any {
			return map[string]string{"title": fmt.Sprintf("rollout %d-%d try %d",
				client, round, attempt)}
		}
		if !l.send(ctx, httpClient, "POST /posts/create", proxy+"/posts/create",
			title, &post) {
			continue
		}
		l.mu.Lock()
		l.posts[post.ID] = fmt.Sprint(client, "-", round)
		l.mu.Unlock()

		for i, text := range []string{"A fine post", "I like orange juice"} {
			status := "approved"
			if i == 1 {
				status = "rejected"
			}
			var comment struct{ ID string }
			content := fmt.Sprintf("%s (%d-%d)", text, client, round)
			body := func(int) any { return map[string]string{"content": content} }
			if l.send(ctx, httpClient, "POST /posts/{id}/comments",
				proxy+"/posts/"+post.ID+"/comments", body, &comment) {
				l.mu.Lock()
				l.comments[comment.ID] = expectedComment{post.ID, content, status}
				l.mu.Unlock()
			}
		}

		if resp, err := httpClient.Get(proxy + "/posts/" + post.ID); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			l.count("GET /posts/{id}", resp.StatusCode)
		}

		select {
		case <-ctx.Done():
			return
		case <-time.After(roundPause):
		}
	}
}

func TestRollout_losesAndDuplicatesNothing(t *testing.T) {
	c := newCluster(t)
	images := slices.Clone(rolloutOrder)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, image := range images {
		wg.Go(func() {
			inst := c.start(image)
			mu.Lock()
			c.running[image] = inst
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, image := range images {
		if inst := c.running[image]; inst.addr != "" {
			c.eps.set(image, inst.addr)
		}
	}

	l := &ledger{posts: map[string]string{}, comments: map[string]expectedComment{},
		statuses: map[string]int{}, unsure: map[string]int{}}
	budget := make(chan struct{}, maxPosts)
	for range maxPosts {
		budget <- struct{}{}
	}
	ctx, stopTraffic := context.WithCancel(t.Context())
	var clients sync.WaitGroup
	for i := range trafficClients {
		clients.Go(func() { l.drive(ctx, c.proxy, i, budget) })
	}

	time.Sleep(time.Second)
	for _, image := range rolloutOrder {
		gc := goWorkloads(t, c.set)[image][0]
		limit := gracePeriod(gc.Workload) - preStopSleep(gc.Container)
		d := c.roll(image, limit)
		t.Logf("%s: old instance exited %s after SIGTERM (limit %s: grace "+
			"period minus preStop sleep)", image, d.Round(time.Millisecond), limit)
		if d >= limit {
			t.Errorf("%s took %s to stop, limit %s", image, d, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopTraffic()
	clients.Wait()

	t.Logf("accepted %d posts and %d comments; responses %v", len(l.posts),
		len(l.comments), l.statuses)
	if len(l.failed) > 0 {
		t.Errorf("%d requests failed after %d attempts each: %v", len(l.failed),
			maxAttempts, l.failed)
	}
	if len(l.posts) == 0 || len(l.comments) == 0 {
		t.Fatal("no post or comment was accepted")
	}

	readModel := c.waitForReadModel(l, 60*time.Second)
	checkReadModel(t, l, readModel)
	c.checkEventLog(l)

	t.Run("rebuild", func(t *testing.T) { c.rebuild(t, c.settledReadModel(t)) })
}

// readPost is a post of GET /posts on query-svc.
type readPost struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Comments []struct {
		ID      string `json:"id"`
		Content string `json:"content"`
		Status  string `json:"status"`
	} `json:"comments"`
}

// settledReadModel returns the read model once no comment is pending and
// two reads a second apart agree. A request that got no response may
// have stored a comment that the accepted-items wait did not look for,
// and the rebuild must compare against its final state.
func (c *cluster) settledReadModel(t *testing.T) []readPost {
	t.Helper()

	deadline := time.Now().Add(60 * time.Second)
	var last []readPost
	for {
		posts, err := c.readPosts()
		if err == nil && !hasPending(posts) && reflect.DeepEqual(posts, last) {
			return posts
		}
		if time.Now().After(deadline) {
			t.Fatalf("read model did not settle in 60 s (%v)", err)
		}
		last = posts
		time.Sleep(time.Second)
	}
}

func hasPending(posts []readPost) bool {
	for _, p := range posts {
		for _, cm := range p.Comments {
			if cm.Status == "pending" {
				return true
			}
		}
	}

	return false
}

func (c *cluster) readPosts() ([]readPost, error) {
	resp, err := http.Get("http://" + c.running["query-svc"].addr + "/posts?limit=500")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /posts: %s", resp.Status)
	}

	var posts []readPost
	return posts, json.NewDecoder(resp.Body).Decode(&posts)
}

// waitForReadModel polls query-svc until every accepted post is there and
// every accepted comment has a final status, and returns the read model.
func (c *cluster) waitForReadModel(l *ledger, timeout time.Duration) []readPost {
	t := c.t
	t.Helper()

	deadline := time.Now().Add(timeout)
	for {
		posts, err := c.readPosts()
		missing := len(l.posts) + len(l.comments)
		if err == nil {
			missing = countMissing(l, posts)
		}
		if err == nil && missing == 0 {
			return posts
		}
		if time.Now().After(deadline) {
			t.Fatalf("read model incomplete after %s: %d posts or comments "+
				"missing or pending (%v)", timeout, missing, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// countMissing returns how many accepted posts are absent from posts and
// how many accepted comments are absent or not yet in a final status.
func countMissing(l *ledger, posts []readPost) int {
	present := map[string]bool{}
	for _, p := range posts {
		present[p.ID] = true
		for _, cm := range p.Comments {
			if cm.Status == "approved" || cm.Status == "rejected" {
				present[cm.ID] = true
			}
		}
	}

	missing := 0
	for id := range l.posts {
		if !present[id] {
			missing++
		}
	}
	for id := range l.comments {
		if !present[id] {
			missing++
		}
	}

	return missing
}

// checkReadModel checks that every accepted post and comment appears
// exactly once, under the right post and with its final status, and that
// nothing appears that no client received an acceptance for.
func checkReadModel(t *testing.T, l *ledger, posts []readPost) {
	t.Helper()

	seenPosts := map[string]int{}
	seenComments := map[string]int{}
	for _, p := range posts {
		seenPosts[p.ID]++
		if _, ok := l.posts[p.ID]; !ok && !l.explainedByUnsure(p.Title) {
			t.Errorf("post %s (%q) is in the read model, but no client "+
				"was told it was accepted", p.ID, p.Title)
		}
		for _, cm := range p.Comments {
			seenComments[cm.ID]++
			want, ok := l.comments[cm.ID]
			switch {
			case !ok && l.explainedByUnsure(cm.Content):
				t.Logf("comment %s is in the read model after a request for "+
					"it got no answer", cm.ID)
			case !ok:
				t.Errorf("comment %s is in the read model, but no client was "+
					"told it was accepted", cm.ID)
			case want.postID != p.ID || want.content != cm.Content:
				t.Errorf("comment %s under post %s with %q, want post %s with %q",
					cm.ID, p.ID, cm.Content, want.postID, want.content)
			case want.status != cm.Status:
				t.Errorf("comment %s status %s, want %s", cm.ID, cm.Status, want.status)
			}
		}
	}

	for id := range l.posts {
		if seenPosts[id] != 1 {
			t.Errorf("accepted post %s appears %d times", id, seenPosts[id])
		}
	}
	for id := range l.comments {
		if seenComments[id] != 1 {
			t.Errorf("accepted comment %s appears %d times", id, seenComments[id])
		}
	}
}

// checkEventLog reads every topic from the start: each accepted post and
// comment has its events (at least once, as the outbox promises), and no
// event went to a dead-letter topic.
func (c *cluster) checkEventLog(l *ledger) {
	t := c.t
	t.Helper()

	events := map[string]map[string]int{}
	for _, topic := range []string{"blog.posts", "blog.comments", "blog.moderation"} {
		for _, m := range readTopic(t, c.brokers, c.prefix+topic) {
			var env struct {
				Type string `json:"type"`
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(m.Value, &env); err != nil {
				t.Errorf("%s offset %d: %v", topic, m.Offset, err)
				continue
			}
			if events[env.Type] == nil {
				events[env.Type] = map[string]int{}
			}
			events[env.Type][env.Data.ID]++
		}
		if dlq := readTopic(t, c.brokers, c.prefix+topic+".dlq"); len(dlq) > 0 {
			t.Errorf("%d events on %s.dlq", len(dlq), topic)
		}
	}

	checkEvents(t, events, "PostCreated", l.posts)
	for _, typ := range []string{"CommentCreated", "CommentModerated", "CommentUpdated"} {
		ids := map[string]string{}
		for id := range l.comments {
			ids[id] = ""
		}
		checkEvents(t, events, typ, ids)
	}
}

func checkEvents(t *testing.T, events map[string]map[string]int, typ string,
	accepted map[string]string) {
	t.Helper()

	repeated := 0
	for id := range accepted {
		n := events[typ][id]
		if n == 0 {
			t.Errorf("no %s event for %s", typ, id)
		}
		if n > 1 {
			repeated++
		}
	}
	t.Logf("%s: %d events for %d accepted ids, %d ids published more than "+
		"once", typ, sum(events[typ]), len(accepted), repeated)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// readTopic returns every record of topic, read partition by partition
// up to the end offset at the time of the call.
func readTopic(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	partitions, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}

	var out []kafka.Message
	for _, p := range partitions {
		leader, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last <= first {
			continue
		}

		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic,
			Partition: p.ID, MaxWait: 200 * time.Millisecond})
		r.SetOffset(first)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}

	return out
}

// rebuild follows the documented rebuild: query-svc scaled to zero, the
// Job's command with the Job's environment, query-svc started again. The
// replayed read model must equal the one before.
func (c *cluster) rebuild(t *testing.T, before []readPost) {
	jobSet := defaultWithJobs(t)
	job, ok := jobSet.Workload("query-rebuild")
	if !ok {
		t.Fatal("no Job query-rebuild in k8s/jobs")
	}
	jc := goContainer{job, &job.Template.Spec.Containers[0]}
	image := ImageName(jc.Container.Image)
	env := serviceEnv(t, jobSet, &jc, c.brokers, c.env[image]["DATABASE_URL"], c.prefix)

	if _, err := c.running[image].stop(30 * time.Second); err != nil {
		t.Fatalf("scale %s to zero: %v", image, err)
	}
	c.eps.set(image)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := slices.Concat(jc.Container.Command, jc.Container.Args)
	out, err := runToExit(ctx, c.binaries[image], env, args...)
	if err != nil {
		t.Fatalf("Job command %v: %v\n%s", args, err, out)
	}
	t.Logf("Job output:\n%s", strings.TrimSpace(out))

	c.running[image] = c.start(image)
	deadline := time.Now().Add(60 * time.Second)
	for {
		after, err := c.readPosts()
		if err == nil && reflect.DeepEqual(after, before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read model after the rebuild differs from before: "+
				"%d posts, want %d (%v)", len(after), len(before), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
