package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/athlake/athlake/jobs"
)

// decodeStrict decodes one YAML document into v: duplicate keys (YAML) and
// fields v's type does not have (JSON) are errors, as a misspelt field
// silently dropped by the API server would be a manifest that does not do
// what it says.
func decodeStrict(doc []byte, v any) error {
	if docSep.Match(doc) {
		return fmt.Errorf("more than one document")
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the object")
	}
	return nil
}

// docSep separates the documents of a YAML file.
var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// manifest is one file's objects, decoded into their API types.
type manifest struct {
	configMaps      []*corev1.ConfigMap
	cronJobs        []*batchv1.CronJob
	serviceAccounts []*corev1.ServiceAccount
}

func load(t *testing.T, name string) *manifest {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{}
	for i, doc := range docSep.Split(string(b), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s, document %d: %v", name, i+1, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			m.configMaps, obj = append(m.configMaps, o), o
		case "batch/v1 CronJob":
			o := &batchv1.CronJob{}
			m.cronJobs, obj = append(m.cronJobs, o), o
		case "v1 ServiceAccount":
			o := &corev1.ServiceAccount{}
			m.serviceAccounts, obj = append(m.serviceAccounts, o), o
		default:
			t.Fatalf("%s, document %d: unexpected %q %q", name, i+1, tm.APIVersion, tm.Kind)
		}
		if err := decodeStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s, document %d (%s): %v", name, i+1, tm.Kind, err)
		}
	}
	return m
}

func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for _, c := range []struct {
		doc string
		obj any
	}{
		{"apiVersion: batch/v1\nkind: CronJob\nspec:\n  concurrencyPolicy: Forbid\n  concurencyPolicy: Allow\n", &batchv1.CronJob{}}, // misspelt field
		{"apiVersion: batch/v1\nkind: CronJob\nspec:\n  schedule: a\n  schedule: b\n", &batchv1.CronJob{}},                           // duplicate key
		{"apiVersion: v1\nkind: ConfigMap\ndata: [a]\n", &corev1.ConfigMap{}},                                                        // wrong type
		{"apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n---\nkind: Secret\n", &corev1.ConfigMap{}},                                  // two documents in one
	} {
		if err := decodeStrict([]byte(c.doc), c.obj); err == nil {
			t.Errorf("decodeStrict accepted:\n%s", c.doc)
		}
	}
	if err := decodeStrict([]byte("apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n"), &corev1.ConfigMap{}); err != nil {
		t.Errorf("decodeStrict refused a ConfigMap: %v", err)
	}
}

func TestServiceAccount(t *testing.T) {
	m := load(t, "serviceaccount.yaml")
	if len(m.serviceAccounts) != 1 || len(m.cronJobs)+len(m.configMaps) != 0 {
		t.Fatalf("serviceaccount.yaml: want one ServiceAccount")
	}
	sa := m.serviceAccounts[0]
	if sa.Name != "athlake" || !regexp.MustCompile(`^arn:aws:iam::\d{12}:role/\S+$`).MatchString(sa.Annotations["eks.amazonaws.com/role-arn"]) {
		t.Errorf("service account %s, annotations %v: want athlake with an IRSA role", sa.Name, sa.Annotations)
	}
}

// exitRule is a podFailurePolicy rule on exit codes, as the tests want it.
type exitRule struct {
	Action    batchv1.PodFailurePolicyAction
	Container string
	Codes     []int32
}

// checkJob checks what both CronJobs must do; failAction is what exit 2
// does (FailJob, or FailIndex for one organisation of an Indexed Job).
func checkJob(t *testing.T, cj *batchv1.CronJob, failAction batchv1.PodFailurePolicyAction) *corev1.Container {
	t.Helper()
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("%s: concurrencyPolicy %q, want Forbid", cj.Name, cj.Spec.ConcurrencyPolicy)
	}
	job := cj.Spec.JobTemplate.Spec
	pod := job.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q, want Never (a podFailurePolicy needs it)", cj.Name, pod.RestartPolicy)
	}
	if job.ActiveDeadlineSeconds == nil {
		t.Errorf("%s: no activeDeadlineSeconds: an exit 75 would be retried without end", cj.Name)
	}
	if job.PodFailurePolicy == nil {
		t.Fatalf("%s: no podFailurePolicy", cj.Name)
	}
	var rules []exitRule
	disruption := false
	for _, r := range job.PodFailurePolicy.Rules {
		if r.OnExitCodes != nil {
			if r.OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn {
				t.Errorf("%s: rule %v: want operator In", cj.Name, r)
			}
			rules = append(rules, exitRule{r.Action, *r.OnExitCodes.ContainerName, r.OnExitCodes.Values})
		}
		for _, c := range r.OnPodConditions {
			disruption = disruption || (c.Type == corev1.DisruptionTarget && r.Action == batchv1.PodFailurePolicyActionIgnore)
		}
	}
	want := []exitRule{
		{failAction, "athlake", []int32{jobs.ExitUsage}},
		{batchv1.PodFailurePolicyActionIgnore, "athlake", []int32{jobs.ExitStopped}},
		{batchv1.PodFailurePolicyActionCount, "athlake", []int32{jobs.ExitFailed}},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("%s: podFailurePolicy exit-code rules (-want +got):\n%s", cj.Name, diff)
	}
	if !disruption {
		t.Errorf("%s: an evicted pod (DisruptionTarget) counts as a failure", cj.Name)
	}

	if pod.ServiceAccountName != "athlake" {
		t.Errorf("%s: serviceAccountName %q, want athlake (serviceaccount.yaml)", cj.Name, pod.ServiceAccountName)
	}
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and the image's user 65532", cj.Name, sc)
	}
	if len(pod.Containers) != 1 || pod.Containers[0].Name != "athlake" {
		t.Fatalf("%s: want one container named athlake", cj.Name)
	}
	c := &pod.Containers[0]
	if s := c.SecurityContext; s == nil || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem {
		t.Errorf("%s: container securityContext %+v", cj.Name, s)
	}
	if len(c.Command) != 0 || c.Args[0] != "sync" {
		t.Errorf("%s: command %v args %v: want the image's entrypoint running sync", cj.Name, c.Command, c.Args)
	}
	// Memory: the limit holds the peak measured at the configs' 256MiB
	// budget (445 MiB, Team Pro rebuild), and is requested in full.
	mem := c.Resources.Limits[corev1.ResourceMemory]
	if want := resource.MustParse("512Mi"); mem.Cmp(want) != 0 || c.Resources.Requests.Memory().Cmp(want) != 0 {
		t.Errorf("%s: memory request %v limit %v, want 512Mi both", cj.Name, c.Resources.Requests.Memory(), mem.String())
	}
	var gomem *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			gomem = &c.Env[i]
		}
	}
	if gomem == nil || gomem.ValueFrom == nil || gomem.ValueFrom.ResourceFieldRef == nil ||
		gomem.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || gomem.ValueFrom.ResourceFieldRef.ContainerName != "athlake" {
		t.Errorf("%s: GOMEMLIMIT %+v: want the container's limits.memory from the downward API", cj.Name, gomem)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, p := range []string{"/etc/athlake", "/var/lib/athlake", "/tmp"} {
		if mounts[p] == "" {
			t.Errorf("%s: nothing mounted at %s", cj.Name, p)
		}
	}
	return c
}

// configs writes the config files a ConfigMap holds into a folder, as the
// volume mounts them, and returns the folder.
func configs(t *testing.T, cm *corev1.ConfigMap) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig loads a config file with the real loader, each ${VAR} set to
// a value, and GOMEMLIMIT as the downward API gives it (bytes).
func loadConfig(t *testing.T, path string, limit resource.Quantity) (*jobs.Config, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, m := range envRef.FindAllStringSubmatch(string(b), -1) {
		vars = append(vars, m[1])
	}
	env := map[string]string{"GOMEMLIMIT": fmt.Sprint(limit.Value())}
	for _, v := range vars {
		env[v] = "value-of-" + v
	}
	cfg, err := jobs.LoadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	// The budget is the config's memory_limit, not the pod's limit.
	if got := cfg.Memory().Limit; got != jobs.DefaultMemoryLimit {
		t.Errorf("%s: budget %d, want %d", filepath.Base(path), got, jobs.DefaultMemoryLimit)
	}
	if !cfg.IsS3() {
		t.Errorf("%s: output %s: want an s3:// lake (a pod's disk goes with it)", filepath.Base(path), cfg.Output)
	}
	return cfg, vars
}

// cronJobFile loads a file of one ConfigMap and one CronJob.
func cronJobFile(t *testing.T, name string) (*batchv1.CronJob, *corev1.ConfigMap) {
	t.Helper()
	m := load(t, name)
	if len(m.configMaps) != 1 || len(m.cronJobs) != 1 || len(m.serviceAccounts) != 0 {
		t.Fatalf("%s: want one ConfigMap and one CronJob", name)
	}
	return m.cronJobs[0], m.configMaps[0]
}

func TestCronJob(t *testing.T) {
	cj, cm := cronJobFile(t, "cronjob.yaml")
	job := cj.Spec.JobTemplate.Spec
	c := checkJob(t, cj, batchv1.PodFailurePolicyActionFailJob)
	if job.BackoffLimit == nil || *job.BackoffLimit < 1 || job.CompletionMode != nil {
		t.Errorf("backoffLimit %v, completionMode %v: want retries of one pod", job.BackoffLimit, job.CompletionMode)
	}
	if !slices.Equal(c.Args[:3], []string{"sync", "--config", "/etc/athlake/athlake.yaml"}) {
		t.Errorf("args %v", c.Args)
	}
	vol := job.Template.Spec.Volumes[slices.IndexFunc(job.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "config" })]
	if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Name {
		t.Errorf("the config volume %+v is not the ConfigMap %s", vol, cm.Name)
	}
	dir := configs(t, cm)
	_, vars := loadConfig(t, filepath.Join(dir, "athlake.yaml"), c.Resources.Limits[corev1.ResourceMemory])

	// Every ${VAR} of the config comes from the Secret, and the pod gets
	// no other secret.
	fromSecret := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			if e.ValueFrom.SecretKeyRef.Name != cm.Name {
				t.Errorf("%s from Secret %s, want %s", e.Name, e.ValueFrom.SecretKeyRef.Name, cm.Name)
			}
			fromSecret[e.Name] = e.ValueFrom.SecretKeyRef.Key
		} else if e.Value != "" {
			t.Errorf("%s has a literal value in the manifest", e.Name)
		}
	}
	slices.Sort(vars)
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range fromSecret {
			if !yield(k) {
				return
			}
		}
	})
	if diff := cmp.Diff(vars, got); diff != "" {
		t.Errorf("the config's ${VAR}s and the Secret's env vars differ (-config +env):\n%s", diff)
	}
	// The header's kubectl command creates each key the env names.
	b, _ := os.ReadFile("cronjob.yaml")
	for _, key := range fromSecret {
		if !strings.Contains(string(b), "--from-literal="+key+"=") {
			t.Errorf("the kubectl create secret command lacks %s", key)
		}
	}
}

func TestIndexedJob(t *testing.T) {
	cj, cm := cronJobFile(t, "organisations.yaml")
	job := cj.Spec.JobTemplate.Spec
	c := checkJob(t, cj, batchv1.PodFailurePolicyActionFailIndex)
	if job.CompletionMode == nil || *job.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", job.CompletionMode)
	}
	if job.BackoffLimitPerIndex == nil || *job.BackoffLimitPerIndex < 1 || job.BackoffLimit != nil {
		t.Errorf("backoffLimitPerIndex %v, backoffLimit %v: FailIndex needs a per-index limit", job.BackoffLimitPerIndex, job.BackoffLimit)
	}
	if job.Completions == nil || int(*job.Completions) != len(cm.Data) {
		t.Fatalf("completions %v for %d configs", job.Completions, len(cm.Data))
	}
	if !slices.Equal(c.Args[:3], []string{"sync", "--config", "/etc/athlake/org-$(JOB_COMPLETION_INDEX).yaml"}) {
		t.Errorf("args %v", c.Args)
	}
	idx := c.Env[slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_COMPLETION_INDEX" })]
	if idx.ValueFrom == nil || idx.ValueFrom.FieldRef == nil || idx.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("JOB_COMPLETION_INDEX %+v", idx)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != cm.Name {
		t.Errorf("envFrom %+v: want the Secret %s", c.EnvFrom, cm.Name)
	}
	// Each index has a config, its own lake (and so its own lock and
	// state) and its own variables.
	dir := configs(t, cm)
	outputs, vars := map[string]bool{}, map[string]bool{}
	for i := range int(*job.Completions) {
		name := strings.ReplaceAll(c.Args[2], "$(JOB_COMPLETION_INDEX)", fmt.Sprint(i))
		cfg, vs := loadConfig(t, filepath.Join(dir, filepath.Base(name)), c.Resources.Limits[corev1.ResourceMemory])
		if outputs[cfg.Output] {
			t.Errorf("index %d shares its output %s", i, cfg.Output)
		}
		outputs[cfg.Output] = true
		for _, v := range vs {
			if vars[v] || !strings.HasSuffix(v, fmt.Sprintf("_%d", i)) {
				t.Errorf("index %d: variable %s is another organisation's", i, v)
			}
			vars[v] = true
		}
	}
}
