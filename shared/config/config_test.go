package config_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkablog/blog/shared/config"
)

func TestReadCommon_defaults(t *testing.T) {
	t.Parallel()

	r := config.NewFromMap(map[string]string{})
	c := config.ReadCommon(r, "4000", "posts")
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v, want nil for an empty environment", err)
	}

	if c.HTTPAddr != ":4000" {
		t.Errorf("HTTPAddr = %q, want :4000", c.HTTPAddr)
	}
	wantURL := "postgres://postgres@127.0.0.1:5432/posts?sslmode=disable"
	if c.DatabaseURL != wantURL {
		t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, wantURL)
	}
	if !slices.Equal(c.Brokers, []string{"127.0.0.1:9092"}) {
		t.Errorf("Brokers = %v, want [127.0.0.1:9092]", c.Brokers)
	}
	if c.TopicPrefix != "" {
		t.Errorf("TopicPrefix = %q, want empty", c.TopicPrefix)
	}
	if c.TopicPartitions != 3 {
		t.Errorf("TopicPartitions = %d, want 3", c.TopicPartitions)
	}
	if c.TopicReplication != 1 {
		t.Errorf("TopicReplication = %d, want 1", c.TopicReplication)
	}
	if c.ShutdownTimeout != 10*time.Second {
		t.Errorf("ShutdownTimeout = %s, want 10s", c.ShutdownTimeout)
	}
	if c.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel = %s, want INFO", c.LogLevel)
	}
	if got := c.Group("query-svc"); got != "query-svc" {
		t.Errorf("Group = %q, want query-svc without a prefix", got)
	}
}

func TestReadCommon_values(t *testing.T) {
	t.Parallel()

	r := config.NewFromMap(map[string]string{
		"HTTP_ADDR":                "127.0.0.1:8080",
		"DATABASE_URL":             "postgresql://blog:pw@db:5433/blog_posts",
		"KAFKA_BROKERS":            " kafka-0:9092, ,kafka-1:9093 ",
		"KAFKA_TOPIC_PREFIX":       "t1.",
		"KAFKA_TOPIC_PARTITIONS":   "6",
		"KAFKA_REPLICATION_FACTOR": "3",
		"SHUTDOWN_TIMEOUT":         "1500ms",
		"LOG_LEVEL":                "debug",
	})
	c := config.ReadCommon(r, "4000", "posts")
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}

	if c.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("HTTPAddr = %q, want 127.0.0.1:8080", c.HTTPAddr)
	}
	if c.DatabaseURL != "postgresql://blog:pw@db:5433/blog_posts" {
		t.Errorf("DatabaseURL = %q, want the configured URL", c.DatabaseURL)
	}
	if !slices.Equal(c.Brokers, []string{"kafka-0:9092", "kafka-1:9093"}) {
		t.Errorf("Brokers = %v, want [kafka-0:9092 kafka-1:9093]", c.Brokers)
	}
	if c.TopicPartitions != 6 {
		t.Errorf("TopicPartitions = %d, want 6", c.TopicPartitions)
	}
	if c.TopicReplication != 3 {
		t.Errorf("TopicReplication = %d, want 3", c.TopicReplication)
	}
	if c.ShutdownTimeout != 1500*time.Millisecond {
		t.Errorf("ShutdownTimeout = %s, want 1.5s", c.ShutdownTimeout)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("LogLevel = %s, want DEBUG", c.LogLevel)
	}
	if got := c.Group("query-svc"); got != "t1.query-svc" {
		t.Errorf("Group = %q, want t1.query-svc", got)
	}
}

func TestReadCommon_blankValuesUseDefaults(t *testing.T) {
	t.Parallel()

	r := config.NewFromMap(map[string]string{
		"KAFKA_BROKERS":    "   ",
		"SHUTDOWN_TIMEOUT": "",
	})
	c := config.ReadCommon(r, "4001", "comments")
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v, want nil for blank values", err)
	}

	if !slices.Equal(c.Brokers, []string{"127.0.0.1:9092"}) {
		t.Errorf("Brokers = %v, want the default", c.Brokers)
	}
	if c.ShutdownTimeout != 10*time.Second {
		t.Errorf("ShutdownTimeout = %s, want the default 10s", c.ShutdownTimeout)
	}
}

func TestReadCommon_invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		variable string
		value    string
		wantText string
	}{
		{"broker without port", "KAFKA_BROKERS", "kafka", `"kafka"`},
		{"broker with empty port", "KAFKA_BROKERS", "kafka:", `"kafka:"`},
		{"second broker without port", "KAFKA_BROKERS", "a:9092,b", `"b"`},
		{"broker list of commas", "KAFKA_BROKERS", ",,", "empty list"},
		{"duration without unit", "SHUTDOWN_TIMEOUT", "10", `"10"`},
		{"duration word", "SHUTDOWN_TIMEOUT", "ten", `"ten"`},
		{"negative duration", "SHUTDOWN_TIMEOUT", "-1s", `"-1s"`},
		{"zero duration", "SHUTDOWN_TIMEOUT", "0s", `"0s"`},
		{"int word", "KAFKA_TOPIC_PARTITIONS", "three", `"three"`},
		{"int zero", "KAFKA_TOPIC_PARTITIONS", "0", "from 1 to 1000"},
		{"int over maximum", "KAFKA_TOPIC_PARTITIONS", "1001",
			"from 1 to 1000"},
		{"int fraction", "KAFKA_REPLICATION_FACTOR", "1.5", `"1.5"`},
		{"postgres URL without database", "DATABASE_URL",
			"postgres://blog:pw@db:5432", "missing database name"},
		{"postgres URL with empty path", "DATABASE_URL",
			"postgres://blog:pw@db:5432/?sslmode=disable",
			"missing database name"},
		{"other URL scheme", "DATABASE_URL", "mysql://db/blog", `"mysql"`},
		{"unparsable URL", "DATABASE_URL", "postgres://db:port/blog",
			"invalid URL"},
		{"address without port", "HTTP_ADDR", "4000", `"4000"`},
		{"unknown log level", "LOG_LEVEL", "loud", `"loud"`},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			r := config.NewFromMap(map[string]string{tc.variable: tc.value})
			config.ReadCommon(r, "4000", "posts")
			err := r.Err()
			if err == nil {
				t.Fatalf("Err = nil, want an error for %s=%q",
					tc.variable, tc.value)
			}

			if !strings.Contains(err.Error(), tc.variable+": ") {
				t.Errorf("error %q does not name %s", err, tc.variable)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %s", err, tc.wantText)
			}
			if n := len(joined(t, err)); n != 1 {
				t.Errorf("error %q reports %d problems, want 1", err, n)
			}
		})
	}
}

func TestReadCommon_passwordNotInError(t *testing.T) {
	t.Parallel()

	tests := []string{
		"postgres://blog:s3cret@db:5432",
		"mysql://blog:s3cret@db/blog",
		"postgres://blog:s3cret@db:port/blog",
	}

	for _, url := range tests {
		t.Run(url, func(t *testing.T) {
			t.Parallel()

			r := config.NewFromMap(map[string]string{"DATABASE_URL": url})
			config.ReadCommon(r, "4000", "posts")
			err := r.Err()
			if err == nil {
				t.Fatalf("Err = nil, want an error for DATABASE_URL=%q", url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestReadCommon_allErrorsTogether(t *testing.T) {
	t.Parallel()

	r := config.NewFromMap(map[string]string{
		"KAFKA_BROKERS":          "kafka",
		"SHUTDOWN_TIMEOUT":       "soon",
		"KAFKA_TOPIC_PARTITIONS": "many",
		"DATABASE_URL":           "postgres://db:5432",
		"LOG_LEVEL":              "chatty",
	})
	config.ReadCommon(r, "4000", "posts")
	err := r.Err()
	if err == nil {
		t.Fatal("Err = nil, want the five invalid variables")
	}

	for _, name := range []string{"KAFKA_BROKERS", "SHUTDOWN_TIMEOUT",
		"KAFKA_TOPIC_PARTITIONS", "DATABASE_URL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name+": ") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if n := len(joined(t, err)); n != 5 {
		t.Errorf("error reports %d problems, want 5", n)
	}
	if !strings.HasPrefix(err.Error(), "invalid configuration: ") {
		t.Errorf("error %q does not start with \"invalid configuration: \"",
			err)
	}
}

// joined returns the errors that Reader.Err joined.
func joined(t testing.TB, err error) []error {
	t.Helper()

	var multi interface{ Unwrap() []error }
	if !errors.As(err, &multi) {
		t.Fatalf("error %v (%T) does not join several errors", err, err)
	}

	return multi.Unwrap()
}

func TestReader_Fail(t *testing.T) {
	t.Parallel()

	r := config.NewFromMap(nil)
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v before any failure, want nil", err)
	}

	r.Fail("BANNED_WORDS", "word %q is too short", "a")
	err := r.Err()
	if err == nil {
		t.Fatal("Err = nil after Fail, want the recorded error")
	}
	want := `invalid configuration: BANNED_WORDS: word "a" is too short`
	if err.Error() != want {
		t.Errorf("Err = %q, want %q", err, want)
	}
}

func TestReader_List(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{"one item", "orange", []string{"orange"}},
		{"items trimmed", " orange , apple ", []string{"orange", "apple"}},
		{"empty items dropped", "orange,,apple,", []string{"orange", "apple"}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			r := config.NewFromMap(map[string]string{"WORDS": tc.value})
			got := r.List("WORDS", nil)
			if err := r.Err(); err != nil {
				t.Fatalf("Err = %v, want nil", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}
