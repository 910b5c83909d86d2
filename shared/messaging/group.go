package messaging

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/segmentio/kafka-go"
)

// ActiveGroupError is returned by ResetToEarliest while the group has
// members, since Kafka lets only an empty group's offsets be changed.
type ActiveGroupError struct {
	Group   string
	Members []string
}

func (e *ActiveGroupError) Error() string {
	return fmt.Sprintf("consumer group %s has %d active member(s): %s",
		e.Group, len(e.Members), strings.Join(e.Members, ", "))
}

// GroupMembers returns "client-id@host" for each active member of group.
func GroupMembers(ctx context.Context, client *kafka.Client, group string) ([]string, error) {
	res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{
		GroupIDs: []string{group},
	})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}

	var members []string
	for _, g := range res.Groups {
		if g.Error != nil {
			return nil, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		for _, m := range g.Members {
			members = append(members, m.ClientID+"@"+m.ClientHost)
		}
	}

	return members, nil
}

// OffsetReset is one partition whose committed offset ResetToEarliest
// moved. From is -1 when the group had no committed offset there.
type OffsetReset struct {
	Topic     string
	Partition int
	From      int64
	To        int64
}

// ResetToEarliest commits, for group, the earliest offset of every
// partition of topics, so the group's next member replays the whole log.
// It returns an *ActiveGroupError while the group has members, and it
// reads the offsets back so it never reports a reset the broker did not
// store. The commit uses generation -1, outside group management, which
// the broker rejects if a member joined in the meantime.
func ResetToEarliest(
	ctx context.Context,
	client *kafka.Client,
	group string,
	topics []string,
) ([]OffsetReset, error) {
	members, err := GroupMembers(ctx, client, group)
	if err != nil {
		return nil, err
	}
	if len(members) > 0 {
		return nil, &ActiveGroupError{Group: group, Members: members}
	}

	before, err := GroupLag(ctx, client, group, topics)
	if err != nil {
		return nil, err
	}

	parts, err := partitions(ctx, client, topics)
	if err != nil {
		return nil, err
	}

	starts, err := listOffsets(ctx, client, parts, true)
	if err != nil {
		return nil, err
	}

	if err := commitOffsets(ctx, client, group, starts); err != nil {
		return nil, err
	}

	return verifyReset(ctx, client, group, topics, before, starts)
}

func commitOffsets(
	ctx context.Context,
	client *kafka.Client,
	group string,
	offsets map[string]map[int]int64,
) error {
	req := &kafka.OffsetCommitRequest{
		GroupID:      group,
		GenerationID: -1,
		Topics:       map[string][]kafka.OffsetCommit{},
	}
	for topic, ps := range offsets {
		for p, off := range ps {
			req.Topics[topic] = append(req.Topics[topic],
				kafka.OffsetCommit{Partition: p, Offset: off})
		}
	}

	res, err := client.OffsetCommit(ctx, req)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}

	var errs []error
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("commit offsets of group %s: %w", group, errors.Join(errs...))
	}

	return nil
}

func verifyReset(
	ctx context.Context,
	client *kafka.Client,
	group string,
	topics []string,
	before []PartitionLag,
	want map[string]map[int]int64,
) ([]OffsetReset, error) {
	after, err := GroupLag(ctx, client, group, topics)
	if err != nil {
		return nil, fmt.Errorf("read offsets back: %w", err)
	}

	var out []OffsetReset
	for _, a := range after {
		if a.Committed != want[a.Topic][a.Partition] {
			return nil, fmt.Errorf("offset of %s/%d is %d after the reset, "+
				"want %d; another client may have committed",
				a.Topic, a.Partition, a.Committed, want[a.Topic][a.Partition])
		}

		from := int64(-1)
		for _, b := range before {
			if b.Topic == a.Topic && b.Partition == a.Partition {
				from = b.Committed
			}
		}
		out = append(out, OffsetReset{
			Topic: a.Topic, Partition: a.Partition, From: from, To: a.Committed,
		})
	}

	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})

	return out, nil
}
