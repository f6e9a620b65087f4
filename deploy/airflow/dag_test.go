package airflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
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

// The harness's output (testdata/harness.py).
type harnessOutput struct {
	DAGs []dagOut `json:"dags"`
}

type dagOut struct {
	ID     string         `json:"dag_id"`
	Kwargs map[string]any `json:"kwargs"`
	Tasks  []taskOut      `json:"tasks"`
}

type taskOut struct {
	ID     string         `json:"task_id"`
	Class  string         `json:"class"`
	Kwargs map[string]any `json:"kwargs"`
	// Expand is what a mapped task expands over (nil: not mapped).
	Expand map[string]any `json:"expand"`
	// Instances are the task's operators, one per map index.
	Instances []instanceOut `json:"instances"`
}

type instanceOut struct {
	Retries    int             `json:"retries"`
	DoXComPush bool            `json:"do_xcom_push"`
	Skip       []int           `json:"skip_on_exit_code"`
	Pod        json.RawMessage `json:"pod"`
	// Cleanup is what cleanup() does with a pod whose athlake container
	// exited with the key: "ok", or the exception's class.
	Cleanup map[string]string `json:"cleanup"`
}

// python runs python3 with args in this folder and returns its stdout. A
// missing python3 fails the test: the DAG would go unchecked.
func python(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check athlake_dag.py (the test runs it against stubs of Airflow): %v", err)
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python3 %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// harness loads a DAG file against the stubs.
func harness(t *testing.T, dagFile string) *harnessOutput {
	t.Helper()
	out, err := python(t, "testdata/harness.py", dagFile)
	if err != nil {
		t.Fatal(err)
	}
	var h harnessOutput
	if err := decodeStrict(out, &h); err != nil {
		t.Fatalf("the harness's output: %v\n%s", err, out)
	}
	return &h
}

// decodeStrict decodes JSON into v, refusing fields v's type lacks.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestStubsCatchMistakes: the stubs refuse what Airflow, the provider and
// the Kubernetes client would refuse, so a misspelt argument in the DAG
// fails the test rather than passing unseen.
func TestStubsCatchMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, body := range []string{
		"op = KubernetesPodOperator(task_id='x', skip_on_exit_codes=75)",                                      // misspelt parameter
		"op = KubernetesPodOperator(task_id='x', volume_mounts=[k8s.V1VolumeMount(mountPath='/x')])",          // camelCase model attribute
		"op = KubernetesPodOperator.partial(task_id='x', arguments=[]).expand(arguments=[['sync']])",          // partial and expanded
		"op = KubernetesPodOperator(task_id='x', secrets=[Secret('env', None, 'athlake', 'key')])",            // a key without a variable
		"DAG('y', schedule_intervall='@daily')",                                                               // misspelt DAG parameter
		"op = KubernetesPodOperator(task_id='x', on_finish_action='delete')",                                  // not an action
		"op = KubernetesPodOperator.partial(task_id='x').expand(arguments=[], image=['a'])",                   // two expansions
		"op = KubernetesPodOperator(task_id='x', env_vars=[k8s.V1EnvVar(name='A', valueFrom=None)])",          // camelCase again
		"op = KubernetesPodOperator(task_id='x', container_resources=k8s.V1ResourceRequirements(request={}))", // misspelt
	} {
		f := filepath.Join(dir, fmt.Sprintf("bad%d.py", i))
		src := "from airflow import DAG\n" +
			"from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n" +
			"from airflow.providers.cncf.kubernetes.secret import Secret\n" +
			"from kubernetes.client import models as k8s\n" + body + "\n"
		if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := python(t, "testdata/harness.py", f); err == nil {
			t.Errorf("the stubs accepted %s:\n%s", body, out)
		}
	}
}

// manifests are deploy/kubernetes' ConfigMaps and CronJobs, by name.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	cronJobs   map[string]*batchv1.CronJob
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// loadManifests reads the ConfigMaps and CronJobs of deploy/kubernetes'
// files (its own test decodes them strictly and checks them).
func loadManifests(t *testing.T, files ...string) *manifests {
	t.Helper()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, cronJobs: map[string]*batchv1.CronJob{}}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("..", "kubernetes", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docSep.Split(string(b), -1) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch tm.Kind {
			case "ConfigMap":
				cm := &corev1.ConfigMap{}
				err = yaml.UnmarshalStrict([]byte(doc), cm)
				m.configMaps[cm.Name] = cm
			case "CronJob":
				cj := &batchv1.CronJob{}
				err = yaml.UnmarshalStrict([]byte(doc), cj)
				m.cronJobs[cj.Name] = cj
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	return m
}

// flagValue is the value of --name in args.
func flagValue(args []string, name string) string {
	if i := slices.Index(args, "--"+name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// wantCleanup is what each exit code must do to the task.
var wantCleanup = map[string]string{
	fmt.Sprint(jobs.ExitOK):      "ok",                   // done
	fmt.Sprint(jobs.ExitFailed):  "AirflowException",     // retried
	fmt.Sprint(jobs.ExitUsage):   "AirflowFailException", // failed without retry
	fmt.Sprint(jobs.ExitStopped): "AirflowSkipException", // skipped, state saved
}

// checkInstance checks what every athlake task instance must do, and
// returns its pod's spec and container.
func checkInstance(t *testing.T, name string, in instanceOut) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	if diff := cmp.Diff(wantCleanup, in.Cleanup); diff != "" {
		t.Errorf("%s: the outcome of each exit code (-want +got):\n%s", name, diff)
	}
	if !slices.Equal(in.Skip, []int{jobs.ExitStopped}) {
		t.Errorf("%s: skip_on_exit_code %v, want [%d]", name, in.Skip, jobs.ExitStopped)
	}
	if in.Retries < 1 {
		t.Errorf("%s: retries %d: exit 1 is not retried", name, in.Retries)
	}
	if !in.DoXComPush {
		t.Errorf("%s: do_xcom_push is off: the run summary is not pushed", name)
	}
	spec := &corev1.PodSpec{}
	if err := decodeStrict(in.Pod, spec); err != nil {
		t.Fatalf("%s: the pod is not a Kubernetes PodSpec: %v\n%s", name, err, in.Pod)
	}
	if spec.ServiceAccountName != "athlake" {
		t.Errorf("%s: serviceAccountName %q, want athlake (deploy/kubernetes/serviceaccount.yaml)", name, spec.ServiceAccountName)
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and the image's user 65532", name, sc)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "base" {
		t.Fatalf("%s: want one container, the operator's base", name)
	}
	c := &spec.Containers[0]
	if s := c.SecurityContext; s == nil || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem {
		t.Errorf("%s: container securityContext %+v", name, s)
	}
	if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "sync" {
		t.Fatalf("%s: command %v args %v: want the image's entrypoint running sync", name, c.Command, c.Args)
	}
	if got := flagValue(c.Args, "summary-file"); got != "/airflow/xcom/return.json" {
		t.Errorf("%s: --summary-file %q: the provider's sidecar reads /airflow/xcom/return.json", name, got)
	}
	mem := c.Resources.Limits[corev1.ResourceMemory]
	if want := resource.MustParse("512Mi"); mem.Cmp(want) != 0 || c.Resources.Requests.Memory().Cmp(want) != 0 {
		t.Errorf("%s: memory request %v limit %v, want 512Mi both (as deploy/kubernetes')", name, c.Resources.Requests.Memory(), mem.String())
	}
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.ResourceFieldRef == nil ||
		*c.Env[i].ValueFrom.ResourceFieldRef != (corev1.ResourceFieldSelector{ContainerName: "base", Resource: "limits.memory"}) {
		t.Errorf("%s: no GOMEMLIMIT from the base container's limits.memory", name)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, p := range []string{"/etc/athlake", "/var/lib/athlake", "/tmp"} {
		if mounts[p] == "" {
			t.Errorf("%s: nothing mounted at %s", name, p)
		}
	}
	return spec, c
}

// configMapOf is the name of the ConfigMap mounted at /etc/athlake.
func configMapOf(t *testing.T, name string, spec *corev1.PodSpec) string {
	t.Helper()
	c := spec.Containers[0]
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/athlake" })
	j := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return i >= 0 && v.Name == c.VolumeMounts[i].Name })
	if j < 0 || spec.Volumes[j].ConfigMap == nil {
		t.Fatalf("%s: /etc/athlake is not a ConfigMap volume", name)
	}
	return spec.Volumes[j].ConfigMap.Name
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig loads the config the args name, from the ConfigMap's data,
// with the real loader, and returns it and the variables it names.
func loadConfig(t *testing.T, name string, args []string, cm *corev1.ConfigMap, limit resource.Quantity) (*jobs.Config, []string) {
	t.Helper()
	p := flagValue(args, "config")
	body, ok := cm.Data[path.Base(p)]
	if path.Dir(p) != "/etc/athlake" || !ok {
		t.Fatalf("%s: --config %s is not a file of the ConfigMap %s", name, p, cm.Name)
	}
	f := filepath.Join(t.TempDir(), path.Base(p))
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GOMEMLIMIT": fmt.Sprint(limit.Value())}
	var vars []string
	for _, m := range envRef.FindAllStringSubmatch(body, -1) {
		vars = append(vars, m[1])
		env[m[1]] = "value-of-" + m[1]
	}
	cfg, err := jobs.LoadConfig(f, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: %s: %v", name, p, err)
	}
	if !cfg.IsS3() {
		t.Errorf("%s: output %s: want an s3:// lake (a pod's disk goes with it)", name, cfg.Output)
	}
	return cfg, vars
}

// secretEnv is a container's variables from Secrets: name -> secret/key.
func secretEnv(c *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

// TestDAGs loads athlake_dag.py against the stubs and checks its two DAGs
// against deploy/kubernetes' CronJobs, whose ConfigMaps and Secrets they
// use: the hourly sync of one organisation, and the nightly sync of every
// organisation, one mapped task instance each.
func TestDAGs(t *testing.T) {
	t.Parallel()
	h := harness(t, "athlake_dag.py")
	k := loadManifests(t, "cronjob.yaml", "organisations.yaml")
	dags := map[string]dagOut{}
	for _, d := range h.DAGs {
		dags[d.ID] = d
	}
	if diff := cmp.Diff([]string{"athlake_acme", "athlake_organisations"}, slices.Sorted(maps.Keys(dags))); diff != "" {
		t.Fatalf("DAGs (-want +got):\n%s", diff)
	}
	for id, d := range dags {
		if d.Kwargs["max_active_runs"] != 1.0 || d.Kwargs["catchup"] != false {
			t.Errorf("%s: max_active_runs %v catchup %v: want 1 and false (one sync of a lake at a time, as concurrencyPolicy: Forbid)", id, d.Kwargs["max_active_runs"], d.Kwargs["catchup"])
		}
		if len(d.Tasks) != 1 || d.Tasks[0].Class != "AthlakePodOperator" {
			t.Fatalf("%s: want one AthlakePodOperator task", id)
		}
	}

	t.Run("athlake_acme", func(t *testing.T) {
		d := dags["athlake_acme"]
		cj := k.cronJobs["athlake-acme"]
		task := d.Tasks[0]
		if task.Expand != nil || len(task.Instances) != 1 {
			t.Fatalf("want one unmapped task")
		}
		if d.Kwargs["schedule"] != cj.Spec.Schedule {
			t.Errorf("schedule %v, want the CronJob's %q", d.Kwargs["schedule"], cj.Spec.Schedule)
		}
		in := task.Instances[0]
		if in.Retries != int(*cj.Spec.JobTemplate.Spec.BackoffLimit) {
			t.Errorf("retries %d, want the CronJob's backoffLimit %d", in.Retries, *cj.Spec.JobTemplate.Spec.BackoffLimit)
		}
		spec, c := checkInstance(t, "athlake_acme", in)
		kc := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		if want := append(slices.Clone(kc.Args), "--summary-file", "/airflow/xcom/return.json"); !slices.Equal(c.Args, want) {
			t.Errorf("args %v, want the CronJob's and --summary-file: %v", c.Args, want)
		}
		if c.Image != kc.Image {
			t.Errorf("image %s, want the CronJob's %s", c.Image, kc.Image)
		}
		cm := k.configMaps[configMapOf(t, "athlake_acme", spec)]
		if cm == nil {
			t.Fatalf("the config volume's ConfigMap is not in deploy/kubernetes")
		}
		_, vars := loadConfig(t, "athlake_acme", c.Args, cm, c.Resources.Limits[corev1.ResourceMemory])
		// Every ${VAR} of the config comes from the CronJob's Secret and key.
		got := secretEnv(c)
		if diff := cmp.Diff(slices.Sorted(slices.Values(vars)), slices.Sorted(maps.Keys(got))); diff != "" {
			t.Errorf("the config's ${VAR}s and the variables from the Secret differ (-config +pod):\n%s", diff)
		}
		if diff := cmp.Diff(secretEnv(&kc), got); diff != "" {
			t.Errorf("the variables' Secret and keys differ from the CronJob's (-CronJob +DAG):\n%s", diff)
		}
	})

	t.Run("athlake_organisations", func(t *testing.T) {
		d := dags["athlake_organisations"]
		cj := k.cronJobs["athlake-orgs"]
		job := cj.Spec.JobTemplate.Spec
		task := d.Tasks[0]
		if d.Kwargs["schedule"] != cj.Spec.Schedule {
			t.Errorf("schedule %v, want the CronJob's %q", d.Kwargs["schedule"], cj.Spec.Schedule)
		}
		if list, ok := task.Expand["arguments"].([]any); !ok || len(task.Expand) != 1 || len(list) != len(task.Instances) {
			t.Fatalf("expand %v: want a task mapped over its arguments, one per organisation", task.Expand)
		}
		if task.Kwargs["max_active_tis_per_dag"] != float64(*job.Parallelism) {
			t.Errorf("max_active_tis_per_dag %v, want the Indexed Job's parallelism %d", task.Kwargs["max_active_tis_per_dag"], *job.Parallelism)
		}
		kc := job.Template.Spec.Containers[0]
		var configs []string
		outputs := map[string]bool{}
		for i, in := range task.Instances {
			name := fmt.Sprintf("athlake_organisations[%d]", i)
			if in.Retries != int(*job.BackoffLimitPerIndex) {
				t.Errorf("%s: retries %d, want the Indexed Job's backoffLimitPerIndex %d", name, in.Retries, *job.BackoffLimitPerIndex)
			}
			spec, c := checkInstance(t, name, in)
			if c.Image != kc.Image {
				t.Errorf("%s: image %s, want the CronJob's %s", name, c.Image, kc.Image)
			}
			if diff := cmp.Diff(kc.EnvFrom, c.EnvFrom); diff != "" {
				t.Errorf("%s: envFrom differs from the Indexed Job's (-Job +DAG):\n%s", name, diff)
			}
			cm := k.configMaps[configMapOf(t, name, spec)]
			if cm == nil {
				t.Fatalf("%s: the config volume's ConfigMap is not in deploy/kubernetes", name)
			}
			cfg, _ := loadConfig(t, name, c.Args, cm, c.Resources.Limits[corev1.ResourceMemory])
			if outputs[cfg.Output] {
				t.Errorf("%s shares its output %s", name, cfg.Output)
			}
			outputs[cfg.Output] = true
			configs = append(configs, path.Base(flagValue(c.Args, "config")))
			if i == len(task.Instances)-1 {
				// Every organisation of the ConfigMap, once.
				if diff := cmp.Diff(slices.Sorted(maps.Keys(cm.Data)), slices.Sorted(slices.Values(configs))); diff != "" {
					t.Errorf("the organisations mapped and the ConfigMap's configs differ (-ConfigMap +DAG):\n%s", diff)
				}
			}
		}
	})
}

// TestCommandLines runs each pod's command line with the release binary
// (scripts/release-build, as the image has it), the config replaced by a
// missing file and the XCom file by one in a temporary folder: athlake
// accepts every flag, exits 2, and still writes the summary the XCom
// sidecar reads.
func TestCommandLines(t *testing.T) {
	t.Parallel()
	h := harness(t, "athlake_dag.py")
	dir := t.TempDir()
	bin := filepath.Join(dir, "athlake")
	if out, err := exec.Command("../../scripts/release-build", bin).CombinedOutput(); err != nil {
		t.Fatalf("scripts/release-build: %v\n%s", err, out)
	}
	n := 0
	for _, d := range h.DAGs {
		for _, task := range d.Tasks {
			for i, in := range task.Instances {
				var spec corev1.PodSpec
				if err := decodeStrict(in.Pod, &spec); err != nil || len(spec.Containers) == 0 {
					t.Fatalf("%s[%d]: %v", d.ID, i, err)
				}
				args := slices.Clone(spec.Containers[0].Args)
				missing := filepath.Join(dir, "missing.yaml")
				xcom := filepath.Join(dir, fmt.Sprintf("xcom-%d.json", n))
				n++
				for j := range args {
					switch {
					case j > 0 && args[j-1] == "--config":
						args[j] = missing
					case j > 0 && args[j-1] == "--summary-file":
						args[j] = xcom
					}
				}
				cmd := exec.Command(bin, args...)
				cmd.Env = []string{} // as in the image: nothing from this machine
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != jobs.ExitUsage {
					t.Errorf("%s[%d]: athlake %v: %v, want exit %d\n%s", d.ID, i, args, err, jobs.ExitUsage, out)
					continue
				}
				var sum map[string]any
				b, err := os.ReadFile(xcom)
				if err == nil {
					err = json.Unmarshal(b, &sum)
				}
				if err != nil || sum["command"] != "sync" || sum["status"] != "failed" || !strings.Contains(fmt.Sprint(sum["error"]), missing) {
					t.Errorf("%s[%d]: the summary file: %v %v, want a failed sync naming the missing config\n%s", d.ID, i, sum, err, out)
				}
			}
		}
	}
	if n != 4 {
		t.Errorf("%d command lines, want 4 (one sync, three organisations)", n)
	}
}
