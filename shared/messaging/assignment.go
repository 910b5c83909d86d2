package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// watchAssignment checks the group's assignment four times per
// UnassignedTimeout. It returns true once some partition of the
// consumer's topics has had no owner in the stable group for
// UnassignedTimeout, and false when ctx is done. A failed check neither
// starts nor resets that time.
//
// kafka-go v0.4.51 can leave partitions unassigned for good. The group
// leader reads the metadata of all subscribed topics in one request, and
// when the broker does not know one of them yet, kafka-go assigns no
// partition at all. Each member's partition watcher then counts a topic's
// partitions once when it starts and triggers a rebalance only when that
// count changes. So when the topic appears between the assignment and the
// watcher's first count, the reader waits for messages without an error
// until something else starts a rebalance. Rejoining the group starts one.
func (c *Consumer) watchAssignment(ctx context.Context) bool {
	interval := c.cfg.UnassignedTimeout / 4
	var since time.Time
	failures := 0

	for sleep(ctx, interval) {
		parts, err := unassignedPartitions(ctx, c.client, c.cfg.GroupID,
			c.cfg.Topics)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			if failures == 1 {
				slog.WarnContext(ctx, "check of the group assignment failed, "+
					"retrying", "group", c.cfg.GroupID, "error", err)
			}
			continue
		case err != nil:
			return false
		}

		failures = 0
		switch {
		case len(parts) == 0:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= c.cfg.UnassignedTimeout:
			slog.WarnContext(ctx, "rejoining the group because partitions "+
				"stayed unassigned while it was stable", "group", c.cfg.GroupID,
				"partitions", parts, "unassigned_for", time.Since(since))
			return true
		}
	}

	return false
}

// unassignedPartitions returns, as "topic/partition", the partitions of
// topics that no member of group owns. It returns none while the group is
// not stable, since a rebalance in progress has no final assignment yet.
// Topics missing from the metadata have no partitions to assign.
func unassignedPartitions(
	ctx context.Context,
	client *kafka.Client,
	group string,
	topics []string,
) ([]string, error) {
	owned, stable, err := groupAssignment(ctx, client, group)
	if err != nil || !stable {
		return nil, err
	}

	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %v: %w", topics, err)
	}

	var out []string
	for _, t := range meta.Topics {
		if t.Error != nil {
			continue
		}
		for _, p := range t.Partitions {
			name := fmt.Sprintf("%s/%d", t.Name, p.ID)
			if !owned[name] {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)

	return out, nil
}

// groupAssignment returns the partitions that the members of group own, as
// "topic/partition", and whether the group is stable.
func groupAssignment(
	ctx context.Context,
	client *kafka.Client,
	group string,
) (owned map[string]bool, stable bool, err error) {
	res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{
		GroupIDs: []string{group},
	})
	if err != nil {
		return nil, false, fmt.Errorf("describe group %s: %w", group, err)
	}

	owned = map[string]bool{}
	for _, g := range res.Groups {
		if g.Error != nil {
			return nil, false, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		stable = g.GroupState == "Stable"
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				for _, p := range t.Partitions {
					owned[fmt.Sprintf("%s/%d", t.Topic, p)] = true
				}
			}
		}
	}

	return owned, stable, nil
}
