package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

var lagGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "consumer_lag_events",
	Help: "Events on a partition that the consumer group has not committed.",
}, []string{"group", "topic", "partition"})

// LagMonitor polls a consumer group's lag, exports it as the
// consumer_lag_events gauge, and serves as a readiness check: ready once
// this process's member has joined the group and the group's total lag is
// at most MaxLag. After that first catch-up it stays ready, so a burst of
// events, a rebalance or a broker restart does not take the only replica
// out of service while it still serves the read model it has.
type LagMonitor struct {
	client   *kafka.Client
	group    string
	clientID string
	topics   []string
	maxLag   int64
	interval time.Duration

	mu       sync.Mutex
	last     error
	caughtUp bool
}

// NewLagMonitor returns a monitor for the consumer whose reader uses
// clientID. Until its first poll it reports not ready.
func NewLagMonitor(
	client *kafka.Client,
	group, clientID string,
	topics []string,
	maxLag int64,
	interval time.Duration,
) *LagMonitor {
	return &LagMonitor{
		client:   client,
		group:    group,
		clientID: clientID,
		topics:   topics,
		maxLag:   maxLag,
		interval: interval,
		last:     errors.New("consumer lag not measured yet"),
	}
}

// Run polls until ctx is cancelled and returns nil then.
func (m *LagMonitor) Run(ctx context.Context) error {
	for {
		err := m.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}

		m.record(err)

		if !sleep(ctx, m.interval) {
			return nil
		}
	}
}

// record keeps the outcome of one poll for Check. Until the first poll
// without error it keeps the error; after that, Check reports ready.
func (m *LagMonitor) record(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	if err == nil {
		m.caughtUp = true
	}

	if m.caughtUp {
		if err != nil {
			slog.Debug("consumer behind after its first catch-up",
				"group", m.group, "reason", err)
		}
		m.last = nil
		return
	}

	m.last = err
}

// Check returns the reason this instance is not ready, or nil.
func (m *LagMonitor) Check(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	return m.last
}

func (m *LagMonitor) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	lags, err := GroupLag(ctx, m.client, m.group, m.topics)
	if err != nil {
		return fmt.Errorf("measure lag: %w", err)
	}

	var total int64
	for _, l := range lags {
		total += l.Lag()
		lagGauge.WithLabelValues(m.group, l.Topic,
			strconv.Itoa(l.Partition)).Set(float64(l.Lag()))
	}

	joined, err := m.joined(ctx)
	if err != nil {
		return err
	}

	switch {
	case !joined:
		return fmt.Errorf("consumer %s has not joined group %s yet",
			m.clientID, m.group)
	case total > m.maxLag:
		return fmt.Errorf("catching up: %d events behind, ready at %d or fewer",
			total, m.maxLag)
	}

	slog.Debug("consumer lag", "group", m.group, "lag", total)
	return nil
}

// joined reports whether the member using clientID is in the group with
// its partitions assigned.
func (m *LagMonitor) joined(ctx context.Context) (bool, error) {
	res, err := m.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{
		GroupIDs: []string{m.group},
	})
	if err != nil {
		return false, fmt.Errorf("describe group %s: %w", m.group, err)
	}

	for _, g := range res.Groups {
		if g.Error != nil {
			return false, fmt.Errorf("describe group %s: %w", m.group, g.Error)
		}
		if g.GroupState != "Stable" {
			return false, nil
		}
		for _, member := range g.Members {
			if member.ClientID == m.clientID {
				return true, nil
			}
		}
	}

	return false, nil
}
