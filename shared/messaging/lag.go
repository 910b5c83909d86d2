package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionLag is one partition's position for a consumer group.
type PartitionLag struct {
	Topic     string
	Partition int
	// End is the high-water mark: the offset the next record will get.
	End int64
	// Committed is the group's committed offset, or -1 if it has none.
	Committed int64
}

// Lag returns how many records the group has not committed yet.
func (p PartitionLag) Lag() int64 {
	if p.Committed < 0 {
		return p.End
	}

	return max(p.End-p.Committed, 0)
}

// GroupLag returns the position of group on every partition of topics.
// The group needs no active members.
func GroupLag(
	ctx context.Context,
	client *kafka.Client,
	group string,
	topics []string,
) ([]PartitionLag, error) {
	parts, err := partitions(ctx, client, topics)
	if err != nil {
		return nil, err
	}

	ends, err := listOffsets(ctx, client, parts, false)
	if err != nil {
		return nil, err
	}

	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  parts,
	})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if res.Error != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, res.Error)
	}

	var out []PartitionLag
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("fetch offset of %s/%d: %w",
					topic, p.Partition, p.Error)
			}
			out = append(out, PartitionLag{
				Topic:     topic,
				Partition: p.Partition,
				End:       ends[topic][p.Partition],
				Committed: p.CommittedOffset,
			})
		}
	}

	return out, nil
}

// WaitCaughtUp blocks until group has committed every record that was in
// topics when it was called, polling every interval. A failed poll is
// retried. It returns ctx's error, joined with the last poll error, if the
// group does not get there first.
func WaitCaughtUp(
	ctx context.Context,
	client *kafka.Client,
	group string,
	topics []string,
	interval time.Duration,
) error {
	var target []PartitionLag
	var haveTarget bool
	var lastErr error
	for {
		now, err := GroupLag(ctx, client, group, topics)
		switch {
		case err != nil:
			lastErr = err
		case !haveTarget:
			target, haveTarget = now, true
			continue
		case caughtUp(target, now):
			return nil
		}

		if !sleep(ctx, interval) {
			return errors.Join(ctx.Err(), lastErr)
		}
	}
}

// caughtUp reports whether now has committed up to target's end offsets.
func caughtUp(target, now []PartitionLag) bool {
	for _, t := range target {
		if committedAt(now, t.Topic, t.Partition) < t.End {
			return false
		}
	}

	return true
}

func committedAt(lags []PartitionLag, topic string, partition int) int64 {
	for _, l := range lags {
		if l.Topic == topic && l.Partition == partition {
			if l.Committed < 0 {
				return 0
			}
			return l.Committed
		}
	}

	return 0
}

func partitions(
	ctx context.Context,
	client *kafka.Client,
	topics []string,
) (map[string][]int, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %v: %w", topics, err)
	}

	out := make(map[string][]int, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("read metadata of %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
	}

	return out, nil
}

// listOffsets returns the first offset of every partition in parts when
// first is true, else the high-water mark.
func listOffsets(
	ctx context.Context,
	client *kafka.Client,
	parts map[string][]int,
	first bool,
) (map[string]map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, ps := range parts {
		for _, p := range ps {
			offset := kafka.LastOffsetOf(p)
			if first {
				offset = kafka.FirstOffsetOf(p)
			}
			req.Topics[topic] = append(req.Topics[topic], offset)
		}
	}

	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}

	out := make(map[string]map[int]int64, len(res.Topics))
	for topic, ps := range res.Topics {
		out[topic] = make(map[int]int64, len(ps))
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("list offset of %s/%d: %w",
					topic, p.Partition, p.Error)
			}
			out[topic][p.Partition] = p.LastOffset
			if first {
				out[topic][p.Partition] = p.FirstOffset
			}
		}
	}

	return out, nil
}
