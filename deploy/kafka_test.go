package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// launcherVariables are KAFKA_ variables that the apache/kafka image
// passes to its launch scripts instead of writing them as broker settings.
var launcherVariables = map[string]bool{
	"KAFKA_VERSION": true, "KAFKA_HEAP_OPTS": true, "KAFKA_LOG4J_OPTS": true,
	"KAFKA_OPTS": true, "KAFKA_JMX_OPTS": true, "KAFKA_JVM_PERFORMANCE_OPTS": true,
	"KAFKA_GC_LOG_OPTS": true, "KAFKA_LOG4J_ROOT_LOGLEVEL": true,
	"KAFKA_LOG4J_LOGGERS": true, "KAFKA_TOOLS_LOG4J_LOGLEVEL": true,
	"KAFKA_JMX_HOSTNAME": true,
}

// brokerProperties turns the container's KAFKA_ variables into broker
// settings the way the apache/kafka image does at start: KAFKA_ removed,
// lower case, "___" to "-", "__" to "_" and "_" to ".".
func brokerProperties(env map[string]string) map[string]string {
	props := map[string]string{}
	for name, value := range env {
		if !strings.HasPrefix(name, "KAFKA_") || launcherVariables[name] {
			continue
		}

		key := strings.ToLower(strings.TrimPrefix(name, "KAFKA_"))
		key = strings.ReplaceAll(key, "_", ".")
		key = strings.ReplaceAll(key, "...", "-")
		key = strings.ReplaceAll(key, "..", "_")
		props[key] = value
	}

	return props
}

func TestBrokerProperties_convertLikeTheImage(t *testing.T) {
	t.Parallel()

	got := brokerProperties(map[string]string{
		"KAFKA_NODE_ID":                        "1",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "A:B",
		"KAFKA_SOME__UNDERSCORE___DASH":        "x",
		"KAFKA_HEAP_OPTS":                      "-Xmx1g",
		"CLUSTER_ID":                           "id",
	})
	want := map[string]string{
		"node.id":                        "1",
		"listener.security.protocol.map": "A:B",
		"some_underscore-dash":           "x",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("brokerProperties = %v, want %v", got, want)
	}
}

func TestKafkaSettings_formatStorage(t *testing.T) {
	t.Parallel()

	if _, err := exec.LookPath("java"); err != nil {
		skipOrFail(t, "java not found: run scripts/install-deps.sh")
	}

	_, env := kafkaContainerEnv(t, loadSet(t, defaultGlobs...))
	props := brokerProperties(env)
	logDir := t.TempDir()
	props["log.dirs"] = logDir

	var b strings.Builder
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	config := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// The image formats an empty log directory with these arguments before
	// it starts the broker; the storage tool validates the whole broker
	// configuration first.
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"),
		"tool", "kafka-storage", "format", "--config", config,
		"--cluster-id", env["CLUSTER_ID"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-storage format with the StatefulSet's settings: %v\n%s\n%s",
			err, out, b.String())
	}

	meta, err := os.ReadFile(filepath.Join(logDir, "meta.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster.id=" + env["CLUSTER_ID"],
		"node.id=" + env["KAFKA_NODE_ID"]} {
		if !strings.Contains(string(meta), want) {
			t.Errorf("meta.properties lacks %s:\n%s", want, meta)
		}
	}
}
