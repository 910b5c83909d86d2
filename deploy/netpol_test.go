package deploy

import (
	"fmt"
	"slices"
	"testing"
)

// ingressController is a pod of ingress-nginx in its usual namespace.
var ingressController = Peer{
	Name:            "ingress-nginx controller",
	NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
	PodLabels:       map[string]string{"app.kubernetes.io/name": "ingress-nginx"},
}

// strangers are pods that no rule names: one in the blog's namespace and
// one elsewhere.
var strangers = []Peer{
	{Name: "unlabelled pod in the namespace", SameNamespace: true,
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "default"},
		PodLabels:       map[string]string{"run": "debug"}},
	{Name: "pod in another namespace",
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "other"},
		PodLabels:       map[string]string{"app.kubernetes.io/name": "posts-svc"}},
}

func TestNetworkPolicies_admitOnlyIntendedPeers(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		t.Run(name, func(t *testing.T) {
			checkPolicies(t, set, set.Merge(loadSet(t, jobGlobs...)))
		})
	}
}

// checkPolicies evaluates every peer against every container port of set
// and compares with the intended rules: the ingress controller reaches the
// ports its Services route to, only the Go services (and the rebuild Job)
// reach Kafka's broker port and PostgreSQL, and nothing else is admitted.
func checkPolicies(t *testing.T, set, withJobs Set) {
	t.Helper()

	policies := set.NetworkPolicies()
	public := publicPorts(t, set)
	goPods := map[string]bool{}
	for _, list := range goWorkloads(t, withJobs) {
		for _, gc := range list {
			goPods[gc.Workload.Name] = true
		}
	}
	clientPorts := map[string][]int32{
		"kafka":    {brokerPort(t, set)},
		"postgres": {5432},
	}

	// workloadOf names the workload of each peer that is a blog pod.
	workloadOf := map[string]string{}
	peers := slices.Clone(strangers)
	peers = append(peers, ingressController)
	for _, w := range withJobs.Workloads() {
		peer := Peer{Name: w.Kind + " " + w.Name, SameNamespace: true,
			NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "default"},
			PodLabels:       w.Template.Labels}
		workloadOf[peer.Name] = w.Name
		peers = append(peers, peer)
	}

	var admitted int
	for _, dest := range set.Workloads() {
		for _, c := range dest.Template.Spec.Containers {
			for _, p := range c.Ports {
				for _, peer := range peers {
					got, err := IngressAllowed(policies, peer, dest.Template.Labels,
						p.ContainerPort)
					if err != nil {
						t.Fatal(err)
					}

					want := false
					switch {
					case peer.Name == ingressController.Name:
						want = slices.Contains(public[dest.Name], p.ContainerPort)
					case goPods[workloadOf[peer.Name]]:
						want = slices.Contains(clientPorts[dest.Name], p.ContainerPort)
					}
					if got != want {
						t.Errorf("%s -> %s port %d: admitted %v, want %v",
							peer.Name, dest.Name, p.ContainerPort, got, want)
					}
					if got {
						admitted++
					}
				}
			}
		}
	}
	t.Logf("%d of the peer and port pairs admitted", admitted)
}

// publicPorts returns, by workload, the container ports that the ingress
// reaches through the Services it names.
func publicPorts(t *testing.T, set Set) map[string][]int32 {
	t.Helper()

	out := map[string][]int32{}
	for _, ing := range set.Ingresses() {
		for _, rule := range ing.Spec.Rules {
			for _, path := range rule.HTTP.Paths {
				svc := findService(t, set, path.Backend.Service.Name)
				for _, sp := range svc.Spec.Ports {
					if sp.Port != path.Backend.Service.Port.Number {
						continue
					}
					for _, w := range selectedWorkloads(set, svc) {
						if port, ok := containerPort(w, sp.TargetPort); ok {
							out[w.Name] = append(out[w.Name], port)
						}
					}
				}
			}
		}
	}

	return out
}

// brokerPort returns the container port of the broker's client listener.
func brokerPort(t *testing.T, set Set) int32 {
	t.Helper()

	kafka, env := kafkaContainerEnv(t, set)
	listener := parseListeners(env["KAFKA_LISTENERS"])[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
	for _, c := range kafka.Template.Spec.Containers {
		for _, p := range c.Ports {
			if fmt.Sprint(p.ContainerPort) == listener.Port() {
				return p.ContainerPort
			}
		}
	}
	t.Fatalf("the broker listener port %s is not a container port", listener.Port())
	return 0
}
