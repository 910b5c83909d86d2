package systest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

// topicPartitions is the KAFKA_TOPIC_PARTITIONS the system sets, the
// services' default.
const topicPartitions = 3

func (s *system) kafkaClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(s.brokers...), Timeout: 10 * time.Second}
}

// topics returns the system's topic names.
func (s *system) topics() event.Topics {
	return event.NewTopics(s.prefix)
}

// queryTopics returns the topics the query service consumes.
func (s *system) queryTopics() []string {
	return []string{s.topics().Posts, s.topics().Comments}
}

// queryGroup returns the query service's consumer group, named the way
// the service names it.
func (s *system) queryGroup() string {
	return config.Common{TopicPrefix: s.prefix}.Group("query-svc")
}

// endOffsets returns the high-water mark of every partition of topic:
// the number of records in each partition, since no record is ever
// deleted.
func endOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]int64, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", topic, err)
	}

	var reqs []kafka.OffsetRequest
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("read metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
	}

	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs},
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}

	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("list offset of %s/%d: %w", topic,
				p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}

	return out, nil
}

func sum(offsets map[int]int64) int64 {
	var n int64
	for _, v := range offsets {
		n += v
	}

	return n
}

// logSizes returns the number of events on the posts and the comments
// topic.
func (s *system) logSizes(ctx context.Context) (posts, comments int64, err error) {
	client := s.kafkaClient()
	p, err := endOffsets(ctx, client, s.topics().Posts)
	if err != nil {
		return 0, 0, err
	}

	c, err := endOffsets(ctx, client, s.topics().Comments)
	if err != nil {
		return 0, 0, err
	}

	return sum(p), sum(c), nil
}

// waitLogged blocks until the posts topic has an event for every post in
// led and the comments topic two for every comment: its CommentCreated
// and the CommentUpdated that comments-svc writes when it applies the
// verdict. Then every comment is moderated and every event the query
// service needs is in Kafka. It counts events, so it relies on each test
// having topics of its own.
func (s *system) waitLogged(led *ledger) {
	s.t.Helper()

	nPosts, nComments := led.counts()
	wantPosts, wantComments := int64(nPosts), 2*int64(nComments)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	for {
		posts, comments, err := s.logSizes(ctx)
		if err == nil && posts >= wantPosts && comments >= wantComments {
			s.t.Logf("log complete after %s: %d post events, %d comment events",
				time.Since(start).Round(time.Millisecond), posts, comments)
			return
		}

		if ctx.Err() != nil {
			s.t.Fatalf("log incomplete after 2 minutes: %d post events "+
				"(want %d), %d comment events (want %d); last error: %v",
				posts, wantPosts, comments, wantComments, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupLag returns the query group's committed and end offsets.
func (s *system) groupLag() []messaging.PartitionLag {
	s.t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lags, err := messaging.GroupLag(ctx, s.kafkaClient(), s.queryGroup(),
		s.queryTopics())
	if err != nil {
		s.t.Fatalf("read offsets of group %s: %v", s.queryGroup(), err)
	}

	return lags
}

// totalLag returns the events the query group has not committed.
func totalLag(lags []messaging.PartitionLag) int64 {
	var n int64
	for _, l := range lags {
		n += l.Lag()
	}

	return n
}

// committed returns the committed offsets by "topic/partition".
func committed(lags []messaging.PartitionLag) map[string]int64 {
	out := map[string]int64{}
	for _, l := range lags {
		out[fmt.Sprintf("%s/%d", l.Topic, l.Partition)] = l.Committed
	}

	return out
}

// waitCaughtUp blocks until the query group has committed every event
// that is in its topics now.
func (s *system) waitCaughtUp() {
	s.t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	err := messaging.WaitCaughtUp(ctx, s.kafkaClient(), s.queryGroup(),
		s.queryTopics(), 100*time.Millisecond)
	if err != nil {
		s.t.Fatalf("query-svc did not catch up within 2 minutes: %v; "+
			"offsets: %+v", err, s.groupLag())
	}

	s.t.Logf("query-svc caught up after %s",
		time.Since(start).Round(time.Millisecond))
}

// partitionOf returns the partition of a post's events, placed by its id
// as writers place keys: with the Java client's murmur2 partitioner.
func partitionOf(postID string) int {
	partitions := make([]int, topicPartitions)
	for i := range partitions {
		partitions[i] = i
	}

	msg := kafka.Message{Key: []byte(postID)}
	return (&kafka.Murmur2Balancer{}).Balance(msg, partitions...)
}

// kafkaTool runs one of Kafka's command-line tools through
// scripts/kafka.sh, from the jars the broker runs on, and returns its
// output. It fails the test unless the tool exits with status 0.
func (s *system) kafkaTool(name string, args ...string) string {
	s.t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmdArgs := append([]string{"scripts/kafka.sh", "tool", name}, args...)
	cmd := exec.CommandContext(ctx, "bash", cmdArgs...)
	cmd.Dir = repoRoot
	cmd.SysProcAttr = childProcAttr()
	cmd.WaitDelay = 2 * time.Second

	start := time.Now()
	out, err := cmd.CombinedOutput()
	s.logs.block(name+" "+strings.Join(args, " "), out)
	if err != nil {
		s.t.Fatalf("%s %s: %v; output:\n%s", name, strings.Join(args, " "),
			err, out)
	}

	s.t.Logf("%s ran in %s", name, time.Since(start).Round(time.Millisecond))
	return string(out)
}

// appliedEvents returns the events p's consumer has applied since p
// started: the sum of consumer_events_total samples whose outcome is
// applied, read from GET /metrics.
func (s *system) appliedEvents(p *process) (int64, error) {
	body, err := s.getOK(p.url("/metrics"))
	if err != nil {
		return 0, err
	}

	var total int64
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "consumer_events_total{") ||
			!strings.Contains(line, `outcome="applied"`) {
			continue
		}

		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("parse metric line %q: %w", line, err)
		}
		total += int64(v)
	}

	return total, sc.Err()
}

// waitLagExported waits until p's GET /metrics has a consumer_lag_events
// sample for its consumer group, which every consumer exports, not only
// query-svc.
func (s *system) waitLagExported(p *process, service string) {
	s.t.Helper()

	want := `consumer_lag_events{group="` + s.prefix + service + `"`
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := s.getOK(p.url("/metrics"))
		if err == nil && strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s exports no %s…} sample after 30 s (last error %v)",
				service, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
