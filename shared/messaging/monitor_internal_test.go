package messaging

import (
	"context"
	"errors"
	"testing"
)

func TestLagMonitorRecord_readyAfterFirstCatchUp(t *testing.T) {
	t.Parallel()

	m := NewLagMonitor(nil, "g", "c", nil, 100, 0)
	if err := m.Check(context.Background()); err == nil {
		t.Fatal("Check before any poll = nil, want not ready")
	}

	behind := errors.New("catching up: 500 events behind")
	m.record(behind)
	if err := m.Check(context.Background()); !errors.Is(err, behind) {
		t.Fatalf("Check while catching up = %v, want %v", err, behind)
	}

	m.record(nil)
	if err := m.Check(context.Background()); err != nil {
		t.Fatalf("Check after catching up = %v, want nil", err)
	}

	m.record(behind)
	if err := m.Check(context.Background()); err != nil {
		t.Errorf("Check after a later burst = %v, want nil: the monitor "+
			"stays ready after its first catch-up", err)
	}
}
