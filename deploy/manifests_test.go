package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// allManifestGlobs covers every manifest file of the repository.
var allManifestGlobs = []string{"k8s/*.yaml", "k8s/*/*.yaml"}

func TestManifests_decodeStrictly(t *testing.T) {
	t.Parallel()

	var files []string
	for _, g := range allManifestGlobs {
		matches, err := filepath.Glob(filepath.Join(repoRoot, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	if len(files) == 0 {
		t.Fatal("no manifest under k8s/")
	}

	for _, file := range files {
		rel, _ := filepath.Rel(repoRoot, file)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objects, err := DecodeStream(rel, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(objects) == 0 {
				t.Error("file holds no manifest")
			}
		})
	}
}

func TestDecodeStream_rejectsInvalidDocuments(t *testing.T) {
	t.Parallel()

	deployment := func(containerLines string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
` + containerLines
	}

	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"misspelled field", deployment(
			"        - name: x\n          imagePullPolcy: Always\n"),
			"unknown field"},
		{"field at the wrong level", deployment(
			"        - name: x\n          runAsNonRoot: true\n"),
			"unknown field"},
		{"wrong type", deployment(
			"        - name: x\n          ports:\n            - containerPort: http\n"),
			"cannot unmarshal"},
		{"invalid quantity", deployment(
			"        - name: x\n          resources:\n            limits: {memory: 1Gx}\n"),
			"quantities must match"},
		{"duplicate key", deployment(
			"        - name: x\n          image: a\n          image: b\n"),
			"already set"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n",
			"unsupported"},
		{"missing name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
			"without metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := DecodeStream("test.yaml", []byte("# leading comment\n---\n"+tt.doc))
			if err == nil {
				t.Fatal("DecodeStream accepted the document")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestManifests_noDuplicateObjects(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		if dups := set.Merge(loadSet(t, jobGlobs...)).Duplicates(); len(dups) > 0 {
			t.Errorf("%s set defines %v more than once", name, dups)
		}
	}
}

// writableRootExceptions lists the containers allowed a writable root file
// system, with the reason, by manifest file and container name.
var writableRootExceptions = map[string]string{
	// skaffold's file sync copies changed sources into /app/src, and Vite
	// writes its cache under node_modules/.vite; development only.
	"k8s/dev/client.yaml client": "file sync in skaffold dev",
}

func TestWorkloads_securitySettings(t *testing.T) {
	t.Parallel()

	set := loadSet(t, allManifestGlobs...)
	for _, w := range set.Workloads() {
		t.Run(w.Source, func(t *testing.T) {
			pod := w.Template.Spec
			sc := pod.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Error("pod securityContext.runAsNonRoot is not true")
			}
			if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
				t.Error("pod securityContext.runAsUser is unset or 0")
			}
			if sc == nil || sc.SeccompProfile == nil ||
				sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("pod seccompProfile is not RuntimeDefault")
			}
			if pod.ServiceAccountName == "" &&
				(pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken) {
				t.Error("pod mounts a service account token it has no use for")
			}

			containers := append(pod.InitContainers, pod.Containers...)
			for _, c := range containers {
				checkContainerSecurity(t, w, c)
				checkResources(t, c)
			}
		})
	}
}

func checkContainerSecurity(t *testing.T, w Workload, c corev1.Container) {
	t.Helper()

	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("container %s has no securityContext", c.Name)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container %s is privileged", c.Name)
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 ||
		sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container %s: capabilities are not drop [ALL] and add none",
			c.Name)
	}

	file, _, _ := strings.Cut(w.Source, "#")
	_, writable := writableRootExceptions[file+" "+c.Name]
	readOnly := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if !readOnly && !writable {
		t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
	}
	if readOnly && writable {
		t.Errorf("container %s is read-only but listed as an exception; "+
			"remove it from writableRootExceptions", c.Name)
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		limit, hasLimit := c.Resources.Limits[res]
		if !hasReq || !hasLimit {
			t.Errorf("container %s: %s request or limit missing", c.Name, res)
			continue
		}
		if req.Cmp(limit) > 0 {
			t.Errorf("container %s: %s request %s above limit %s", c.Name,
				res, req.String(), limit.String())
		}
	}
}
