package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podFields are the fieldRef values the tests give pods.
var podFields = map[string]string{
	"metadata.name":      "kafka-0",
	"metadata.namespace": "default",
}

// selectedWorkloads returns the workloads whose pods svc selects.
func selectedWorkloads(set Set, svc *corev1.Service) []Workload {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}

	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []Workload
	for _, w := range set.Workloads() {
		if w.Kind == "Job" {
			continue
		}
		if sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}

	return out
}

func TestServices_selectExactlyOneWorkload(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		for _, svc := range set.Services() {
			got := selectedWorkloads(set, svc)
			if len(got) != 1 {
				var names []string
				for _, w := range got {
					names = append(names, w.Kind+"/"+w.Name)
				}
				t.Errorf("%s set: Service %s selects %d workloads %v, want 1",
					name, svc.Name, len(got), names)
			}
		}
	}
}

func TestWorkloads_selectorsMatchTheirPods(t *testing.T) {
	t.Parallel()

	for _, w := range loadSet(t, allManifestGlobs...).Workloads() {
		if w.Selector == nil {
			continue
		}
		ok, err := SelectorMatches(w.Selector, w.Template.Labels)
		if err != nil || !ok {
			t.Errorf("%s %s: selector does not match its pod labels (%v)",
				w.Kind, w.Name, err)
		}
	}
}

// containerPort resolves a Service or probe target port to a container
// port number of w.
func containerPort(w Workload, target intstr.IntOrString) (int32, bool) {
	for _, c := range w.Template.Spec.Containers {
		for _, p := range c.Ports {
			if target.Type == intstr.String && p.Name == target.StrVal {
				return p.ContainerPort, true
			}
			if target.Type == intstr.Int && p.ContainerPort == target.IntVal {
				return p.ContainerPort, true
			}
		}
	}

	return 0, false
}

func TestServices_targetPortsMatchContainerPorts(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		for _, svc := range set.Services() {
			for _, w := range selectedWorkloads(set, svc) {
				for _, p := range svc.Spec.Ports {
					target := p.TargetPort
					if target.Type == intstr.Int && target.IntVal == 0 {
						target = intstr.FromInt32(p.Port)
					}
					if _, ok := containerPort(w, target); !ok {
						t.Errorf("%s set: Service %s port %d targets %s, "+
							"which %s %s does not declare", name, svc.Name,
							p.Port, target.String(), w.Kind, w.Name)
					}
				}
			}
		}
	}
}

func TestProbes_targetDeclaredPorts(t *testing.T) {
	t.Parallel()

	for _, w := range loadSet(t, allManifestGlobs...).Workloads() {
		for _, c := range w.Template.Spec.Containers {
			probes := map[string]*corev1.Probe{"startup": c.StartupProbe,
				"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
			for kind, p := range probes {
				var port *intstr.IntOrString
				switch {
				case p == nil:
					continue
				case p.HTTPGet != nil:
					port = &p.HTTPGet.Port
				case p.TCPSocket != nil:
					port = &p.TCPSocket.Port
				default:
					continue
				}
				if _, ok := containerPort(w, *port); !ok {
					t.Errorf("%s container %s: %s probe port %s is not a "+
						"container port", w.Name, c.Name, kind, port.String())
				}
			}
		}
	}
}

// goWorkloads returns the workloads of set that run a Go service image,
// with the container that runs it.
func goWorkloads(t testing.TB, set Set) map[string][]goContainer {
	t.Helper()

	images := map[string]bool{}
	for _, s := range goServices(t) {
		images[s.Image] = true
	}

	out := map[string][]goContainer{}
	for _, w := range set.Workloads() {
		for i := range w.Template.Spec.Containers {
			c := &w.Template.Spec.Containers[i]
			image := ImageName(c.Image)
			if images[image] {
				out[image] = append(out[image], goContainer{w, c})
			}
		}
	}

	return out
}

type goContainer struct {
	Workload  Workload
	Container *corev1.Container
}

func TestGoServices_probePaths(t *testing.T) {
	t.Parallel()

	for image, list := range goWorkloads(t, loadSet(t, defaultGlobs...)) {
		for _, gc := range list {
			c := gc.Container
			want := map[string]struct {
				probe *corev1.Probe
				path  string
			}{
				"readiness": {c.ReadinessProbe, "/readyz"},
				"liveness":  {c.LivenessProbe, "/healthz"},
			}
			for kind, w := range want {
				if w.probe == nil || w.probe.HTTPGet == nil {
					t.Errorf("%s: no HTTP %s probe", image, kind)
					continue
				}
				if w.probe.HTTPGet.Path != w.path {
					t.Errorf("%s: %s probe path %s, want %s", image, kind,
						w.probe.HTTPGet.Path, w.path)
				}
			}

			// A startup probe on /readyz would kill query-svc during a
			// long replay, which keeps it unready until it caught up.
			if p := c.StartupProbe; p != nil &&
				(p.HTTPGet == nil || p.HTTPGet.Path != "/healthz") {
				t.Errorf("%s: startup probe %+v, want HTTP GET /healthz",
					image, p.ProbeHandler)
			}
		}
	}
}

func TestGoServices_gracePeriodCoversShutdown(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	reads := serviceEnvReads(t)
	for image, list := range goWorkloads(t, set) {
		for _, gc := range list {
			env, err := ContainerEnv(set, gc.Container, podFields)
			if err != nil {
				t.Fatal(err)
			}

			shutdown := shutdownTimeout(t, EnvMap(env), reads[image])
			sleep := preStopSleep(gc.Container)
			grace := gracePeriod(gc.Workload)
			t.Logf("%s: preStop sleep %s + SHUTDOWN_TIMEOUT %s, grace period %s",
				image, sleep, shutdown, grace)

			if sleep+shutdown >= grace {
				t.Errorf("%s: preStop sleep %s plus SHUTDOWN_TIMEOUT %s does "+
					"not fit in terminationGracePeriodSeconds %s", image,
					sleep, shutdown, grace)
			}
		}
	}
}

func preStopSleep(c *corev1.Container) time.Duration {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil ||
		c.Lifecycle.PreStop.Sleep == nil {
		return 0
	}

	return time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
}

// gracePeriod returns terminationGracePeriodSeconds or its default of 30.
func gracePeriod(w Workload) time.Duration {
	if p := w.Template.Spec.TerminationGracePeriodSeconds; p != nil {
		return time.Duration(*p) * time.Second
	}

	return 30 * time.Second
}

func TestEnvReferences_resolve(t *testing.T) {
	t.Parallel()

	set := defaultWithJobs(t).Merge(loadSet(t, "k8s/dev/*.yaml"))
	for _, w := range set.Workloads() {
		for _, c := range w.Template.Spec.Containers {
			if _, err := ContainerEnv(set, &c, podFields); err != nil {
				t.Errorf("%s %s: %v", w.Kind, w.Name, err)
			}
		}
		for _, v := range w.Template.Spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				if _, ok := set.ConfigMap(v.ConfigMap.Name); !ok {
					t.Errorf("%s %s: volume %s names missing ConfigMap %s",
						w.Kind, w.Name, v.Name, v.ConfigMap.Name)
				}
			case v.Secret != nil:
				if _, ok := set.Secret(v.Secret.SecretName); !ok {
					t.Errorf("%s %s: volume %s names missing Secret %s",
						w.Kind, w.Name, v.Name, v.Secret.SecretName)
				}
			}
		}
	}
}

func TestGoServices_listenOnTheirContainerPort(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	for image, list := range goWorkloads(t, set) {
		for _, gc := range list {
			env, err := ContainerEnv(set, gc.Container, podFields)
			if err != nil {
				t.Fatal(err)
			}

			addr, ok := EnvMap(env)["HTTP_ADDR"]
			if !ok {
				t.Errorf("%s: HTTP_ADDR is not set", image)
				continue
			}
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Errorf("%s: HTTP_ADDR %q: %v", image, addr, err)
				continue
			}
			n, _ := strconv.Atoi(port)
			if _, ok := containerPort(gc.Workload, intstr.FromString("http")); !ok ||
				!slices.ContainsFunc(gc.Container.Ports, func(p corev1.ContainerPort) bool {
					return p.Name == "http" && int(p.ContainerPort) == n
				}) {
				t.Errorf("%s: HTTP_ADDR port %s is not the container port "+
					"named http", image, port)
			}
		}
	}
}

// contractPorts are the service ports of the HTTP API contract.
var contractPorts = map[string]int32{
	"posts-svc": 4000, "comments-svc": 4001, "query-svc": 4002, "moderation-svc": 4003,
}

func TestServices_useContractPorts(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	for name, port := range contractPorts {
		svc := findService(t, set, name)
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s has type %s, want ClusterIP", name, svc.Spec.Type)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port {
			t.Errorf("Service %s ports %v, want only %d", name, svc.Spec.Ports, port)
		}
		if !selects(set, svc, name) {
			t.Errorf("Service %s does not select Deployment %s", name, name)
		}
	}
}

func TestGoServices_secretsComeFromSecrets(t *testing.T) {
	t.Parallel()

	set := defaultWithJobs(t)
	for image, list := range goWorkloads(t, set) {
		for _, gc := range list {
			env, err := ContainerEnv(set, gc.Container, podFields)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range env {
				secret := e.Name == "DATABASE_URL" || strings.Contains(e.Name, "PASSWORD")
				if secret && !strings.HasPrefix(e.From, "Secret ") {
					t.Errorf("%s %s: %s comes from %s, want a Secret", image,
						gc.Workload.Name, e.Name, e.From)
				}
			}
		}
	}
}

func TestImages_matchSkaffoldArtifacts(t *testing.T) {
	t.Parallel()

	artifacts := map[string]bool{}
	for _, a := range readSkaffoldConfig(t).Build.Artifacts {
		artifacts[a.Image] = true
	}

	for name, set := range deploySets(t) {
		used := map[string]bool{}
		for _, w := range set.Merge(loadSet(t, jobGlobs...)).Workloads() {
			spec := w.Template.Spec
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				checkImage(t, artifacts, w, c.Image)
				used[c.Image] = true
			}
		}
		for image := range artifacts {
			if !used[image] {
				t.Errorf("%s set: skaffold builds %s, but no manifest runs it",
					name, image)
			}
		}
	}
}

// pinnedTag matches a release tag such as 4.4.0 or 15-bookworm.
var pinnedTag = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*(-[a-z0-9.]+)?$`)

// checkImage accepts a skaffold artifact, which the manifests name without
// a tag so skaffold can set it, or a third-party image with a version tag.
func checkImage(t *testing.T, artifacts map[string]bool, w Workload, image string) {
	t.Helper()

	name := ImageName(image)
	tag := strings.TrimPrefix(image, name)
	switch {
	case artifacts[image]:
		return
	case artifacts[name]:
		t.Errorf("%s %s: image %s carries a tag; skaffold sets the tag of "+
			"its artifacts", w.Kind, w.Name, image)
	case tag == "":
		t.Errorf("%s %s: image %s is not a skaffold artifact and has no "+
			"version tag", w.Kind, w.Name, image)
	case !pinnedTag.MatchString(strings.TrimPrefix(tag, ":")):
		t.Errorf("%s %s: image %s is not pinned to a version", w.Kind,
			w.Name, image)
	}
}

func TestKafka_advertisesStablePodName(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	kafka, env := kafkaContainerEnv(t, set)

	sts, ok := kafka.Value.(*appsv1.StatefulSet)
	if !ok {
		t.Fatalf("kafka is a %s, want a StatefulSet", kafka.Kind)
	}
	serviceName := sts.Spec.ServiceName
	headless := findService(t, set, serviceName)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("StatefulSet serviceName %s is not a headless Service", serviceName)
	}
	if !selects(set, headless, kafka.Name) {
		t.Errorf("headless Service %s does not select the kafka pods", serviceName)
	}

	listeners := parseListeners(env["KAFKA_LISTENERS"])
	advertised := parseListeners(env["KAFKA_ADVERTISED_LISTENERS"])
	plaintext := advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
	wantHost := fmt.Sprintf("%s-0.%s.%s.svc.cluster.local", kafka.Name,
		serviceName, podFields["metadata.namespace"])
	if plaintext.Hostname() != wantHost {
		t.Errorf("broker advertises %s, want the stable pod name %s",
			plaintext.Host, wantHost)
	}
	if listeners[env["KAFKA_INTER_BROKER_LISTENER_NAME"]].Port() != plaintext.Port() {
		t.Errorf("advertised port %s differs from the listener's", plaintext.Port())
	}

	checkBootstrapAddress(t, set, kafka, plaintext.Port())
	checkExternalListener(t, listeners, advertised)
	checkKafkaImageVersion(t, kafka)
}

// selects reports whether svc selects the pods of the workload called name.
func selects(set Set, svc *corev1.Service, name string) bool {
	return slices.ContainsFunc(selectedWorkloads(set, svc), func(w Workload) bool {
		return w.Name == name
	})
}

func findService(t *testing.T, set Set, name string) *corev1.Service {
	t.Helper()

	for _, s := range set.Services() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return nil
}

// kafkaContainerEnv returns the Kafka workload and its container's
// environment.
func kafkaContainerEnv(t testing.TB, set Set) (Workload, map[string]string) {
	t.Helper()

	kafka, ok := set.Workload("kafka")
	if !ok {
		t.Fatal("no kafka workload")
	}
	env, err := ContainerEnv(set, &kafka.Template.Spec.Containers[0], podFields)
	if err != nil {
		t.Fatal(err)
	}

	return kafka, EnvMap(env)
}

// parseListeners parses a Kafka listener list such as
// "PLAINTEXT://:9092,EXTERNAL://localhost:9094" by listener name.
func parseListeners(list string) map[string]*url.URL {
	out := map[string]*url.URL{}
	for _, item := range strings.Split(list, ",") {
		name, rest, ok := strings.Cut(item, "://")
		if !ok {
			continue
		}
		out[name] = &url.URL{Scheme: strings.ToLower(name), Host: rest}
	}

	return out
}

// checkBootstrapAddress checks that KAFKA_BROKERS of blog-config reaches
// the broker's advertised port through a Service that selects it.
func checkBootstrapAddress(t *testing.T, set Set, kafka Workload, port string) {
	t.Helper()

	cm, ok := set.ConfigMap("blog-config")
	if !ok {
		t.Fatal("no ConfigMap blog-config")
	}
	for _, broker := range strings.Split(cm.Data["KAFKA_BROKERS"], ",") {
		host, bport, err := net.SplitHostPort(broker)
		if err != nil {
			t.Errorf("KAFKA_BROKERS %q: %v", broker, err)
			continue
		}
		svc := findService(t, set, host)
		if !selects(set, svc, kafka.Name) {
			t.Errorf("KAFKA_BROKERS names Service %s, which does not select kafka", host)
		}
		for _, p := range svc.Spec.Ports {
			if strconv.Itoa(int(p.Port)) != bport {
				continue
			}
			got, _ := containerPort(kafka, p.TargetPort)
			if strconv.Itoa(int(got)) != port {
				t.Errorf("%s reaches container port %d, want the broker "+
					"listener %s", broker, got, port)
			}
			return
		}
		t.Errorf("Service %s has no port %s", host, bport)
	}
}

// checkExternalListener checks the port-forward listener: bound to the
// pod's loopback address and advertised as localhost on the same port,
// the port that skaffold.yaml forwards.
func checkExternalListener(t *testing.T, listeners, advertised map[string]*url.URL) {
	t.Helper()

	ext, ok := listeners["EXTERNAL"]
	if !ok {
		t.Fatal("no EXTERNAL listener for kcat through kubectl port-forward")
	}
	if ext.Hostname() != "127.0.0.1" {
		t.Errorf("EXTERNAL listener binds %s, want the pod's loopback "+
			"address 127.0.0.1", ext.Hostname())
	}
	adv := advertised["EXTERNAL"]
	if adv == nil || adv.Hostname() != "localhost" || adv.Port() != ext.Port() {
		t.Errorf("EXTERNAL advertised as %v, want localhost:%s", adv, ext.Port())
	}

	forwarded := false
	for _, pf := range readSkaffoldConfig(t).PortForward {
		if strconv.Itoa(int(pf.Port)) == ext.Port() && pf.ResourceName == "kafka-0" {
			forwarded = true
		}
	}
	if !forwarded {
		t.Errorf("skaffold.yaml does not forward kafka-0 port %s", ext.Port())
	}
}

// checkKafkaImageVersion checks that the cluster runs the Kafka version
// that the tests run (scripts/kafka/pom.xml).
func checkKafkaImageVersion(t *testing.T, kafka Workload) {
	t.Helper()

	pom, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "kafka", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`).FindSubmatch(pom)
	if m == nil {
		t.Fatal("no kafka.version in scripts/kafka/pom.xml")
	}

	want := "apache/kafka:" + string(m[1])
	if got := kafka.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("kafka image %s, want %s, the version the tests run", got, want)
	}
}

// TestRebuildJob_runsRebuildOnly checks the Job's command statically: the
// image's entrypoint with the single argument rebuild. Without it the Job
// would start a second query-svc server that joins the consumer group
// and never completes.
func TestRebuildJob_runsRebuildOnly(t *testing.T) {
	t.Parallel()

	job, ok := defaultWithJobs(t).Workload("query-rebuild")
	if !ok {
		t.Fatal("no Job query-rebuild in k8s/jobs")
	}

	containers := job.Template.Spec.Containers
	if len(containers) != 1 {
		t.Fatalf("Job has %d containers, want 1", len(containers))
	}

	c := containers[0]
	if len(c.Command) != 0 {
		t.Errorf("Job command = %q, want the image's entrypoint", c.Command)
	}
	if !slices.Equal(c.Args, []string{"rebuild"}) {
		t.Errorf("Job args = %q, want [rebuild]", c.Args)
	}
}
