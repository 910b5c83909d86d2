package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
)

var (
	consumed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "consumer_events_total",
		Help: "Events taken from Kafka by topic, event type and outcome " +
			"(applied, skipped or dead_lettered).",
	}, []string{"group", "topic", "type", "outcome"})
	batchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "consumer_batch_duration_seconds",
		Help:    "Time to apply one batch of events and commit its offsets.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"group"})
)

// Record is one decoded event with its position in the log.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Event     event.Envelope
}

// ApplyFunc applies events, in log order, inside tx. It must be
// idempotent: applying an event a second time, or an older version after a
// newer one, changes nothing. The consumer passes a whole batch first and
// single events after a batch fails. An error that wraps
// event.ErrMalformed or ErrPermanent sends a single event to the
// dead-letter topic without retries.
type ApplyFunc func(ctx context.Context, tx pgx.Tx, recs []Record) error

// Each returns an ApplyFunc that applies the records one at a time with fn.
func Each(fn func(ctx context.Context, tx pgx.Tx, rec Record) error) ApplyFunc {
	return func(ctx context.Context, tx pgx.Tx, recs []Record) error {
		for _, rec := range recs {
			if err := fn(ctx, tx, rec); err != nil {
				return fmt.Errorf("apply %s %s at %s/%d/%d: %w",
					rec.Event.Type, rec.Event.ID, rec.Topic, rec.Partition,
					rec.Offset, err)
			}
		}

		return nil
	}
}

// ErrPermanent marks an apply error that a retry cannot fix.
var ErrPermanent = errors.New("permanent failure")

// ConsumerConfig configures a Consumer. Brokers, GroupID, Topics, Types,
// Apply, Pool and DeadLetter are required.
type ConsumerConfig struct {
	Brokers []string
	GroupID string
	// ClientID names this process to the broker; DefaultClientID if empty.
	ClientID string
	Topics   []string
	// Types lists the event types Apply handles. Others are skipped.
	Types []string
	Apply ApplyFunc
	Pool  *pgxpool.Pool
	// DeadLetter publishes records that cannot be applied.
	DeadLetter Writer
	// MaxBatch is the most events applied in one transaction.
	MaxBatch int
	// Linger is how long a batch waits for more events after its first.
	Linger time.Duration
	// Retries is how many times an event is retried alone before it goes
	// to the dead-letter topic.
	Retries      int
	RetryBackoff time.Duration
	// UnassignedTimeout is how long a partition of Topics may stay without
	// an owner while the group is stable before the consumer leaves the
	// group and joins it again; 10 s if zero. Keep it above 5 s, the
	// interval at which kafka-go v0.4.51 looks for new partitions.
	UnassignedTimeout time.Duration
}

// Writer publishes records; *kafka.Writer implements it.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Consumer reads its topics as a member of a consumer group. It applies
// each batch of events in one database transaction and commits the batch's
// offsets to Kafka only after that transaction commits, so a crash replays
// events but never skips them. A batch that fails is applied again one
// event at a time, so a bad event is retried, then dead-lettered, and the
// events after it on its partition are still applied.
//
// The consumer also checks that its group assigns every partition of its
// topics, and leaves and rejoins the group when one stays unassigned,
// since kafka-go's reader does not recover from that by itself (see
// watchAssignment).
type Consumer struct {
	cfg    ConsumerConfig
	client *kafka.Client
	known  map[string]bool
}

// NewConsumer validates cfg and returns a consumer that joins its group
// when Run starts. A new group starts at the earliest offset of every
// partition.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0, cfg.GroupID == "", len(cfg.Topics) == 0:
		return nil, errors.New("consumer needs brokers, a group id and topics")
	case cfg.Apply == nil, cfg.Pool == nil, cfg.DeadLetter == nil:
		return nil, errors.New("consumer needs Apply, Pool and DeadLetter")
	}

	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.Retries < 1 {
		cfg.Retries = 3
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	if cfg.UnassignedTimeout <= 0 {
		cfg.UnassignedTimeout = 10 * time.Second
	}

	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID(cfg.GroupID)
	}

	known := make(map[string]bool, len(cfg.Types))
	for _, t := range cfg.Types {
		known[t] = true
	}

	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}

	return &Consumer{cfg: cfg, client: client, known: known}, nil
}

// newReader creates a group reader, which joins the group at once.
func (c *Consumer) newReader() *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:     c.cfg.Brokers,
		GroupID:     c.cfg.GroupID,
		GroupTopics: c.cfg.Topics,
		Dialer: &kafka.Dialer{
			ClientID:  c.cfg.ClientID,
			Timeout:   10 * time.Second,
			DualStack: true,
		},
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0,
		MinBytes:              1,
		MaxBytes:              8 << 20,
		MaxWait:               250 * time.Millisecond,
		QueueCapacity:         c.cfg.MaxBatch * 2,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		JoinGroupBackoff:      time.Second,
		WatchPartitionChanges: true,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        500 * time.Millisecond,
		ErrorLogger:           kafka.LoggerFunc(c.logReaderError),
	})
}

// DefaultClientID returns a client id unique to this process: the group,
// the host name and the process id.
func DefaultClientID(group string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}

	return fmt.Sprintf("%s-%s-%d", group, host, os.Getpid())
}

// ClientID returns the client id the consumer's reader uses.
func (c *Consumer) ClientID() string {
	return c.cfg.ClientID
}

func (c *Consumer) logReaderError(msg string, args ...any) {
	slog.Warn("kafka reader: "+fmt.Sprintf(msg, args...),
		"group", c.cfg.GroupID)
}

// Run consumes until ctx is cancelled. The batch in progress at
// cancellation is finished and committed, then the reader leaves the
// group. When a partition of the consumer's topics stays unassigned for
// UnassignedTimeout, Run finishes its batch the same way and joins the
// group again with a new reader. Run returns nil on shutdown and an error
// only if the reader cannot go on.
func (c *Consumer) Run(ctx context.Context) error {
	slog.InfoContext(ctx, "consumer started",
		"group", c.cfg.GroupID, "topics", c.cfg.Topics)

	for {
		rejoin, err := c.runReader(ctx)
		if err != nil {
			return err
		}
		if !rejoin {
			break
		}
	}

	slog.InfoContext(ctx, "consumer stopped", "group", c.cfg.GroupID)
	return nil
}

// runReader consumes with one group reader until ctx is cancelled or
// watchAssignment requests a rejoin, and reports whether it did.
func (c *Consumer) runReader(ctx context.Context) (rejoin bool, err error) {
	reader := c.newReader()

	// Closing the reader leaves the group, after the last commit.
	defer func() {
		if err := reader.Close(); err != nil {
			slog.Warn("close kafka reader", "group", c.cfg.GroupID, "error", err)
		}
	}()

	// One goroutine fetches and decodes the next batch while this one
	// applies the current batch, so JSON decoding overlaps database work.
	// A prepared batch that is never applied is not committed either, so
	// it is delivered again.
	fetchCtx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()

	batches := make(chan prepared, 1)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(batches)
		fetchErr <- c.prepareBatches(fetchCtx, reader, batches)
	}()

	watched := make(chan bool, 1)
	go func() {
		rejoin := c.watchAssignment(fetchCtx)
		if rejoin {
			stopFetching()
		}
		watched <- rejoin
	}()

	c.applyBatches(ctx, reader, batches)

	stopFetching()
	for range batches {
		// Drop what was prepared but not applied; it is not committed.
	}

	// A fetch cancelled for shutdown or for a rejoin is no failure.
	rejoin = <-watched
	if err := <-fetchErr; err != nil && ctx.Err() == nil && !rejoin {
		return false, fmt.Errorf("fetch from %v: %w", c.cfg.Topics, err)
	}

	return rejoin && ctx.Err() == nil, nil
}

// applyBatches applies and commits batches until the channel is closed or
// ctx is cancelled.
func (c *Consumer) applyBatches(
	ctx context.Context,
	reader *kafka.Reader,
	batches <-chan prepared,
) {
	for b := range batches {
		start := time.Now()
		done := c.process(ctx, b)
		if err := commit(reader, done); err != nil {
			slog.WarnContext(ctx, "commit offsets; the events will be "+
				"delivered again", "group", c.cfg.GroupID, "error", err)
		}
		batchSeconds.WithLabelValues(c.cfg.GroupID).Observe(
			time.Since(start).Seconds())

		// Only shutdown leaves a batch unfinished.
		if len(done) < len(b.items) || ctx.Err() != nil {
			return
		}
	}
}

// prepared is a fetched batch with each message classified.
type prepared struct {
	items []item
	recs  []Record
}

// prepareBatches fetches and classifies batches into out until ctx is
// cancelled or the reader fails.
func (c *Consumer) prepareBatches(
	ctx context.Context,
	reader *kafka.Reader,
	out chan<- prepared,
) error {
	for {
		batch, err := c.fetchBatch(ctx, reader)
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Temporary() && ctx.Err() == nil {
			// The reader reports a failed group join, for example while a
			// new broker still creates its offsets topic, and keeps
			// retrying on its own.
			c.logReaderError("fetch failed; retrying: %v", err)
			continue
		}
		if err != nil {
			return err
		}

		b := prepared{items: make([]item, len(batch))}
		for i, m := range batch {
			b.items[i] = c.classify(m)
			if b.items[i].outcome == outcomeApply {
				b.recs = append(b.recs, b.items[i].rec)
			}
		}

		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fetchBatch blocks for the first message, then takes more for up to
// Linger. A message is removed from the reader's queue only when returned,
// so a cancelled fetch loses nothing.
func (c *Consumer) fetchBatch(
	ctx context.Context,
	reader *kafka.Reader,
) ([]kafka.Message, error) {
	first, err := reader.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}

	batch := []kafka.Message{first}
	linger, cancel := context.WithTimeout(ctx, c.cfg.Linger)
	defer cancel()

	for len(batch) < c.cfg.MaxBatch {
		m, err := reader.FetchMessage(linger)
		if err != nil {
			// The end of Linger ends the batch. Any other error comes from
			// a partition reader, which retries on its own, so the batch
			// so far is still applied.
			if linger.Err() == nil {
				slog.WarnContext(ctx, "fetch of more events for a batch failed",
					"group", c.cfg.GroupID, "error", err)
			}
			break
		}
		batch = append(batch, m)
	}

	return batch, nil
}

func commit(reader *kafka.Reader, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}

	// Offsets of handled events are committed even during shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	return reader.CommitMessages(ctx, msgs...)
}
