package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestLoadConfig_defaults(t *testing.T) {
	t.Parallel()

	cfg, err := loadConfig(lookupFrom(nil))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}

	if cfg.DatabaseURL != nil {
		t.Errorf("DatabaseURL = %v, want nil", cfg.DatabaseURL)
	}

	if cfg.KafkaBrokers != nil {
		t.Errorf("KafkaBrokers = %v, want nil", cfg.KafkaBrokers)
	}

	if cfg.PostgresPort != 5432 {
		t.Errorf("PostgresPort = %d, want 5432", cfg.PostgresPort)
	}

	if cfg.KafkaPort != 9092 {
		t.Errorf("KafkaPort = %d, want 9092", cfg.KafkaPort)
	}

	if cfg.BlogAddr != "127.0.0.1:8080" {
		t.Errorf("BlogAddr = %q, want 127.0.0.1:8080", cfg.BlogAddr)
	}

	if cfg.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel = %v, want INFO", cfg.LogLevel)
	}

	if cfg.StopTimeout != 15*time.Second {
		t.Errorf("StopTimeout = %v, want 15s", cfg.StopTimeout)
	}
}

func TestLoadConfig_values(t *testing.T) {
	t.Parallel()

	cfg, err := loadConfig(lookupFrom(map[string]string{
		"DATABASE_URL":    "postgres://u:secret@127.0.0.1:6543/admin?sslmode=disable",
		"KAFKA_BROKERS":   "127.0.0.1:9093, 127.0.0.1:9094,",
		"DEV_PG_PORT":     "5433",
		"DEV_SKIP_CLIENT": "1",
		"LOG_LEVEL":       "debug",
	}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}

	if got := cfg.DatabaseURL.Host; got != "127.0.0.1:6543" {
		t.Errorf("DatabaseURL host = %q, want 127.0.0.1:6543", got)
	}

	if got := strings.Join(cfg.KafkaBrokers, ","); got != "127.0.0.1:9093,127.0.0.1:9094" {
		t.Errorf("KafkaBrokers = %q, want both brokers", got)
	}

	if cfg.PostgresPort != 5433 {
		t.Errorf("PostgresPort = %d, want 5433", cfg.PostgresPort)
	}

	if !cfg.SkipClient {
		t.Error("SkipClient = false, want true")
	}

	if cfg.LogLevel != slog.LevelDebug {
		t.Errorf("LogLevel = %v, want DEBUG", cfg.LogLevel)
	}
}

func TestLoadConfig_invalidNamesVariable(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value string
	}{
		{"DATABASE_URL", "mysql://127.0.0.1/x"},
		{"KAFKA_BROKERS", "127.0.0.1"},
		{"KAFKA_BROKERS", " , "},
		{"DEV_PG_PORT", "70000"},
		{"DEV_KAFKA_PORT", "kafka"},
		{"BLOG_ADDR", "8080"},
		{"LOG_LEVEL", "loud"},
		{"DEV_SKIP_CLIENT", "maybe"},
		{"DEV_READY_TIMEOUT", "60"},
		{"DEV_STOP_TIMEOUT", "-1s"},
	}

	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()

			_, err := loadConfig(lookupFrom(map[string]string{
				tt.name: tt.value,
			}))
			if err == nil {
				t.Fatal("loadConfig returned no error")
			}

			if !strings.HasPrefix(err.Error(), tt.name+": ") {
				t.Errorf("error %q does not start with %s", err, tt.name)
			}
		})
	}
}

func TestLoadConfig_databaseURLPasswordNotInError(t *testing.T) {
	t.Parallel()

	_, err := loadConfig(lookupFrom(map[string]string{
		"DATABASE_URL": "mysql://u:secret@127.0.0.1/x",
	}))
	if err == nil {
		t.Fatal("loadConfig returned no error")
	}

	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q contains the password", err)
	}
}
