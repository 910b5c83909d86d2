package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

// TestConsumer_rejoinsAfterEmptyAssignment starts a consumer in a group
// whose leader computes the assignment before the consumer's topic exists
// and creates the topic before it sends the assignment out. So the
// consumer gets no partitions, and kafka-go's partition watcher, which
// counts partitions only once it starts, detects no change. The consumer
// must find the partition that no member owns and rejoin the group.
func TestConsumer_rejoinsAfterEmptyAssignment(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	late := testenv.TopicPrefix(t) + event.TopicPosts
	created := startLateTopicLeader(t, f, late)

	cfg := f.config()
	cfg.Topics = []string{late}
	cfg.UnassignedTimeout = time.Second
	startConsumerWith(t, cfg)

	select {
	case <-created:
	case <-time.After(30 * time.Second):
		t.Fatalf("the group leader did not create %s within 30 s", late)
	}

	env := newEnvelope(t, typeTest, testData{N: 1})
	msg := f.message(t, uuid.New(), env)
	msg.Topic = late
	f.produce(t, msg)

	testenv.Eventually(t, 20*time.Second, func() error {
		if f.calls.get(env.ID) == 0 {
			return errors.New("the event on the late topic is not applied")
		}
		return nil
	})
}

// TestConsumer_topicCreatedAtStart creates each consumer's topic while
// the consumer joins its group. When the topic appears after the leader
// read the metadata but before the partition watcher started, kafka-go
// leaves the consumer without partitions. Several consumers at once make
// that race likely, so this test fails often without the rejoin.
func TestConsumer_topicCreatedAtStart(t *testing.T) {
	t.Parallel()

	for i := range 4 {
		t.Run(fmt.Sprintf("consumer %d", i), func(t *testing.T) {
			t.Parallel()

			f := newFixture(t)
			topic := testenv.TopicPrefix(t) + event.TopicPosts
			cfg := f.config()
			cfg.Topics = []string{topic}
			cfg.UnassignedTimeout = time.Second

			ctx := testenv.Context(t, time.Minute)
			spec := messaging.TopicSpec{Partitions: 3, ReplicationFactor: 1}
			created := make(chan error, 1)
			go func() {
				created <- messaging.EnsureTopics(ctx, f.brokers, spec, topic)
			}()
			startConsumerWith(t, cfg)
			if err := <-created; err != nil {
				t.Fatalf("create %s: %v", topic, err)
			}

			env := newEnvelope(t, typeTest, testData{N: 1})
			msg := f.message(t, uuid.New(), env)
			msg.Topic = topic
			f.produce(t, msg)

			testenv.Eventually(t, 20*time.Second, func() error {
				if f.calls.get(env.ID) == 0 {
					return errors.New("the event is not applied")
				}
				return nil
			})
		})
	}
}

// startLateTopicLeader joins f's group as its leader with a member that
// subscribes to f.topic only, and returns a channel closed once the
// leader has created topic. The leader stays in the group until the test
// ends.
func startLateTopicLeader(t *testing.T, f *fixture, topic string) <-chan struct{} {
	t.Helper()

	balancer := &lateTopicBalancer{t: t, brokers: f.brokers, topic: topic,
		created: make(chan struct{})}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                f.group,
		Brokers:           f.brokers,
		Topics:            []string{f.topic},
		GroupBalancers:    []kafka.GroupBalancer{balancer},
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
	})
	if err != nil {
		t.Fatalf("new consumer group for the leader: %v", err)
	}

	// kafka-go hands over each generation through Next and joins the next
	// one only after that, so the loop keeps the leader in the group.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if _, err := group.Next(ctx); err != nil && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		group.Close()
	})

	waitMembers(t, f, 1)
	return balancer.created
}

// lateTopicBalancer is kafka-go's range balancer, except that when a
// member subscribes to topic and topic has no partitions yet, it creates
// topic and then assigns the partitions it was given, without topic's.
type lateTopicBalancer struct {
	t       testing.TB
	brokers []string
	topic   string
	once    sync.Once
	created chan struct{}
}

func (b *lateTopicBalancer) ProtocolName() string {
	return kafka.RangeGroupBalancer{}.ProtocolName()
}

func (b *lateTopicBalancer) UserData() ([]byte, error) {
	return nil, nil
}

func (b *lateTopicBalancer) AssignGroups(
	members []kafka.GroupMember,
	partitions []kafka.Partition,
) kafka.GroupMemberAssignments {
	subscribed := slices.ContainsFunc(members, func(m kafka.GroupMember) bool {
		return slices.Contains(m.Topics, b.topic)
	})
	known := slices.ContainsFunc(partitions, func(p kafka.Partition) bool {
		return p.Topic == b.topic
	})

	if subscribed && !known {
		b.once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			spec := messaging.TopicSpec{Partitions: 1, ReplicationFactor: 1}
			if err := messaging.EnsureTopics(ctx, b.brokers, spec, b.topic); err != nil {
				b.t.Errorf("create %s during the assignment: %v", b.topic, err)
			}
			close(b.created)
		})
	}

	return kafka.RangeGroupBalancer{}.AssignGroups(members, partitions)
}

// waitMembers waits until f's group is stable with n members.
func waitMembers(t testing.TB, f *fixture, n int) {
	t.Helper()

	testenv.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		res, err := f.client.DescribeGroups(ctx,
			&kafka.DescribeGroupsRequest{GroupIDs: []string{f.group}})
		if err != nil {
			return err
		}
		for _, g := range res.Groups {
			if g.GroupState == "Stable" && len(g.Members) == n {
				return nil
			}
		}
		return testenv.Errorf("group %s is not stable with %d members: %+v",
			f.group, n, res.Groups)
	})
}
