package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	"go.yaml.in/yaml/v3"
)

// configPath is where the image and the manifests put the config file.
const configPath = "/etc/sluice/sluice.json"

// compileConfig compiles data like `sluice check` and returns its decoded form.
func compileConfig(t *testing.T, name string, data []byte) *config.Config {
	t.Helper()
	e, errs := engine.Load(data)
	if len(errs) > 0 {
		t.Fatalf("%s does not compile:\n%v", name, errs)
	}
	e.Close()
	cfg, err := config.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}

// port returns the port of a host:port address.
func port(t *testing.T, what, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: port %q: %v", what, p, err)
	}
	return n
}

func TestConfigsCompile(t *testing.T) {
	files, _ := filepath.Glob("*.json")
	more, _ := filepath.Glob("*/*.json")
	files = append(files, more...)
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		compileConfig(t, f, data)
	}
}

// manifests is every Kubernetes object in k8s/, by "Kind/name".
type manifests map[string]map[string]any

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, _ := filepath.Glob("k8s/*.yaml")
	m := manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			kind, _ := doc["kind"].(string)
			name := filepath.Base(f) // a Kustomization has no name
			if kind != "Kustomization" {
				name = str(t, doc, "metadata", "name")
			}
			key := kind + "/" + name
			if _, dup := m[key]; dup {
				t.Fatalf("%s defined twice", key)
			}
			doc["_file"] = filepath.Base(f)
			m[key] = doc
		}
	}
	return m
}

func (m manifests) get(t *testing.T, key string) map[string]any {
	t.Helper()
	o, ok := m[key]
	if !ok {
		t.Fatalf("no %s in deploy/k8s", key)
	}
	return o
}

// at walks a decoded YAML tree by map keys and list indexes.
func at(v any, path ...any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mv, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = mv[k]; !ok {
				return nil, false
			}
		case int:
			lv, ok := v.([]any)
			if !ok || k >= len(lv) {
				return nil, false
			}
			v = lv[k]
		}
	}
	return v, true
}

func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	x, ok := at(v, path...)
	s, isStr := x.(string)
	if !ok || !isStr {
		t.Fatalf("%v: want a string, have %v", path, x)
	}
	return s
}

func num(t *testing.T, v any, path ...any) int {
	t.Helper()
	x, ok := at(v, path...)
	n, isInt := x.(int)
	if !ok || !isInt {
		t.Fatalf("%v: want an integer, have %v", path, x)
	}
	return n
}

// named finds the element of a list whose "name" is name.
func named(t *testing.T, list any, name string) map[string]any {
	t.Helper()
	l, _ := list.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("no element named %q in %v", name, list)
	return nil
}

// containerPort resolves a probe or Service target port (a name or a number).
func containerPort(t *testing.T, c map[string]any, p any) int {
	t.Helper()
	switch v := p.(type) {
	case int:
		return v
	case string:
		return num(t, named(t, c["ports"], v), "containerPort")
	}
	t.Fatalf("port %v: want a name or a number", p)
	return 0
}

// matches reports whether selector's labels are all among labels.
func matches(selector, labels any) bool {
	s, _ := selector.(map[string]any)
	l, _ := labels.(map[string]any)
	if len(s) == 0 {
		return false
	}
	for k, v := range s {
		if l[k] != v {
			return false
		}
	}
	return true
}

var quantityUnits = map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "B": 1, "m": 1e-3}

// quantity parses a Kubernetes quantity ("512Mi", "500m", "2") or a
// GOMEMLIMIT value ("460MiB").
func quantity(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)([A-Za-z]*)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("quantity %q", s)
	}
	unit, ok := quantityUnits[m[2]]
	n, err := strconv.ParseFloat(m[1], 64)
	if !ok || err != nil {
		t.Fatalf("quantity %q", s)
	}
	return n * unit
}

func TestKubernetes(t *testing.T) {
	m := loadManifests(t)

	// Every manifest is listed in the kustomization, and only those.
	kust := m.get(t, "Kustomization/kustomization.yaml")
	var listed []string
	for _, r := range kust["resources"].([]any) {
		listed = append(listed, r.(string))
	}
	var files []string
	for _, o := range m {
		if f := o["_file"].(string); f != "kustomization.yaml" && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	slices.Sort(listed)
	slices.Sort(files)
	if !slices.Equal(listed, files) {
		t.Errorf("kustomization resources %v, files %v", listed, files)
	}

	dep := m.get(t, "Deployment/sluice")
	pod := dep["spec"].(map[string]any)["template"]
	podLabels, _ := at(pod, "metadata", "labels")
	if sel, _ := at(dep, "spec", "selector", "matchLabels"); !matches(sel, podLabels) {
		t.Errorf("Deployment selector %v does not match pod labels %v", sel, podLabels)
	}
	c := named(t, must(at(pod, "spec", "containers")), "sluice")

	// The config: the ConfigMap key mounted where the args say.
	args, _ := c["args"].([]any)
	i := slices.Index(args, any("-c"))
	if i < 0 || i+1 >= len(args) || args[i+1] != configPath {
		t.Fatalf("container args %v, want -c %s", args, configPath)
	}
	mount := named(t, c["volumeMounts"], "config")
	vol := named(t, must(at(pod, "spec", "volumes")), str(t, mount, "name"))
	cm := m.get(t, "ConfigMap/"+str(t, vol, "configMap", "name"))
	key := strings.TrimPrefix(configPath, strings.TrimSuffix(str(t, mount, "mountPath"), "/")+"/")
	data, ok := at(cm, "data", key)
	if !ok || key == configPath {
		t.Fatalf("%s is not a key of ConfigMap %s mounted at %s", configPath, str(t, cm, "metadata", "name"), str(t, mount, "mountPath"))
	}
	cfg := compileConfig(t, "ConfigMap "+key, []byte(data.(string)))

	// Ports: the Service's target is the config's listen port, the probes hit
	// the admin port.
	listen := port(t, "server.listen", cfg.Server.Listen)
	admin := port(t, "server.admin_listen", cfg.Server.AdminListen)
	if h, _, _ := net.SplitHostPort(cfg.Server.Listen); h != "0.0.0.0" && h != "" {
		t.Errorf("server.listen %q: a pod must listen on all interfaces", cfg.Server.Listen)
	}
	if h, _, _ := net.SplitHostPort(cfg.Server.AdminListen); h != "0.0.0.0" && h != "" {
		t.Errorf("server.admin_listen %q: the kubelet probes the pod's IP", cfg.Server.AdminListen)
	}
	probes := map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
	for probe, path := range probes {
		if got := str(t, c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
		if got := containerPort(t, c, must(at(c, probe, "httpGet", "port"))); got != admin {
			t.Errorf("%s port %d, want the admin port %d", probe, got, admin)
		}
	}
	svc := m.get(t, "Service/sluice")
	if str(t, svc, "spec", "type") != "LoadBalancer" || str(t, svc, "spec", "externalTrafficPolicy") != "Local" {
		t.Errorf("Service sluice: want type LoadBalancer with externalTrafficPolicy Local")
	}
	if sel, _ := at(svc, "spec", "selector"); !matches(sel, podLabels) {
		t.Errorf("Service selector %v does not match pod labels", sel)
	}
	if got := containerPort(t, c, must(at(svc, "spec", "ports", 0, "targetPort"))); got != listen {
		t.Errorf("Service targets port %d, sluice listens on %d", got, listen)
	}
	adminSvc := m.get(t, "Service/sluice-admin")
	if got := containerPort(t, c, must(at(adminSvc, "spec", "ports", 0, "targetPort"))); got != admin {
		t.Errorf("Service sluice-admin targets port %d, admin listens on %d", got, admin)
	}

	// Fleet size and Redis.
	replicas := num(t, dep, "spec", "replicas")
	if cfg.Cluster.Instances != replicas {
		t.Errorf("cluster.instances %d, Deployment replicas %d", cfg.Cluster.Instances, replicas)
	}
	if cfg.Cluster.Redis == nil {
		t.Fatal("the ConfigMap's config has no cluster.redis")
	}
	rhost, _, _ := net.SplitHostPort(cfg.Cluster.Redis.Addr)
	rsvc := m.get(t, "Service/"+rhost)
	if got := num(t, rsvc, "spec", "ports", 0, "port"); got != port(t, "cluster.redis.addr", cfg.Cluster.Redis.Addr) {
		t.Errorf("Service %s port %d, cluster.redis.addr %s", rhost, got, cfg.Cluster.Redis.Addr)
	}
	rdep := m.get(t, "Deployment/"+rhost)
	rpod := must(at(rdep, "spec", "template"))
	if sel, _ := at(rsvc, "spec", "selector"); !matches(sel, must(at(rpod, "metadata", "labels"))) {
		t.Errorf("Service %s selects no Redis pod", rhost)
	}
	rc := named(t, must(at(rpod, "spec", "containers")), "redis")
	if containerPort(t, rc, must(at(rsvc, "spec", "ports", 0, "targetPort"))) != 6379 {
		t.Errorf("Service %s does not target redis-server's port 6379", rhost)
	}

	pdb := m.get(t, "PodDisruptionBudget/sluice")
	if sel, _ := at(pdb, "spec", "selector", "matchLabels"); !matches(sel, podLabels) {
		t.Errorf("PodDisruptionBudget selector does not match the pods")
	}
	if n := num(t, pdb, "spec", "minAvailable"); n < 1 || n >= replicas {
		t.Errorf("PodDisruptionBudget minAvailable %d with %d replicas: want 1..%d", n, replicas, replicas-1)
	}

	// Termination: preStop, then drain_delay, then shutdown_timeout, all
	// inside the grace period; readiness turns within drain_delay.
	preStop := time.Duration(num(t, c, "lifecycle", "preStop", "sleep", "seconds")) * time.Second
	grace := time.Duration(num(t, pod, "spec", "terminationGracePeriodSeconds")) * time.Second
	drain, shutdown := cfg.Server.DrainDelay.D(), cfg.Server.ShutdownTimeout.D()
	if drain <= 0 || shutdown <= 0 {
		t.Errorf("drain_delay %v and shutdown_timeout %v must be set for a fleet", drain, shutdown)
	}
	if need := preStop + drain + shutdown + 2*time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + drain_delay %v + shutdown_timeout %v + 2s", grace, preStop, drain, shutdown)
	}
	turn := time.Duration(num(t, c, "readinessProbe", "periodSeconds")*num(t, c, "readinessProbe", "failureThreshold")) * time.Second
	if turn > drain {
		t.Errorf("readiness turns after %v (periodSeconds x failureThreshold), after drain_delay %v", turn, drain)
	}

	// Resources and the Go runtime.
	limCPU := quantity(t, str(t, c, "resources", "limits", "cpu"))
	limMem := quantity(t, str(t, c, "resources", "limits", "memory"))
	if quantity(t, str(t, c, "resources", "requests", "cpu")) > limCPU || quantity(t, str(t, c, "resources", "requests", "memory")) > limMem {
		t.Errorf("requests above limits")
	}
	env := c["env"]
	if got := str(t, named(t, env, "GOMAXPROCS"), "valueFrom", "resourceFieldRef", "resource"); got != "limits.cpu" {
		t.Errorf("GOMAXPROCS from %q, want limits.cpu", got)
	}
	gml := quantity(t, str(t, named(t, env, "GOMEMLIMIT"), "value"))
	if gml < 0.8*limMem || gml > 0.95*limMem {
		t.Errorf("GOMEMLIMIT %.0f bytes: want 80-95%% of the memory limit %.0f", gml, limMem)
	}
	if v, _ := at(pod, "spec", "securityContext", "runAsNonRoot"); v != true {
		t.Errorf("pod securityContext: want runAsNonRoot: true")
	}
}

// must drops the ok of at; a missing value fails in the caller's checks.
func must(v any, _ bool) any { return v }

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(text, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, have %d FROM lines", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final image %q: want distroless/static or scratch", final)
	}
	if !strings.Contains(text, "CGO_ENABLED=0") {
		t.Error("the binary must be built with CGO_ENABLED=0")
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "0") || strings.HasPrefix(users[len(users)-1][1], "root") {
		t.Errorf("USER %v: want a non-root user", users)
	}
	if !strings.Contains(text, "COPY deploy/sluice.json "+configPath) || !strings.Contains(text, `"-c", "`+configPath+`"`) {
		t.Errorf("the image must hold and run %s", configPath)
	}
	cfgData, err := os.ReadFile("sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := compileConfig(t, "sluice.json", cfgData)
	hc := regexp.MustCompile(`(?m)^HEALTHCHECK .*\n?.*CMD \["([^"]+)", "http://127\.0\.0\.1:(\d+)/readyz"\]`).FindStringSubmatch(text)
	if hc == nil {
		t.Fatal("no HEALTHCHECK running a binary on http://127.0.0.1:PORT/readyz")
	}
	if hc[2] != strconv.Itoa(port(t, "admin_listen", cfg.Server.AdminListen)) {
		t.Errorf("HEALTHCHECK port %s, admin_listen %s", hc[2], cfg.Server.AdminListen)
	}
	if !strings.Contains(text, "-o /out/"+filepath.Base(hc[1])+" ./cmd/"+filepath.Base(hc[1])) {
		t.Errorf("HEALTHCHECK runs %s, which the build stage does not build", hc[1])
	}
	expose := fmt.Sprintf("EXPOSE %d %d", port(t, "listen", cfg.Server.Listen), port(t, "admin_listen", cfg.Server.AdminListen))
	if !strings.Contains(text, expose) {
		t.Errorf("want %q", expose)
	}
}

func TestHAProxy(t *testing.T) {
	data, err := os.ReadFile("haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfgData, err := os.ReadFile("haproxy/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := compileConfig(t, "haproxy/sluice.json", cfgData)
	if cfg.Server.ProxyProtocol != "required" || !cfg.Server.ReusePort {
		t.Errorf("haproxy/sluice.json: want proxy_protocol required and reuse_port true")
	}
	text := string(data)
	if !regexp.MustCompile(`(?m)^\s+mode tcp$`).MatchString(text) {
		t.Error("want mode tcp")
	}
	if !strings.Contains(text, "uri /readyz") {
		t.Error("health checks must GET /readyz")
	}
	def := regexp.MustCompile(`(?m)^\s+default-server (.*)$`).FindStringSubmatch(text)
	if def == nil || !strings.Contains(def[1], "send-proxy-v2") {
		t.Fatal("want default-server ... send-proxy-v2")
	}
	admin := port(t, "admin_listen", cfg.Server.AdminListen)
	if !strings.Contains(def[1], fmt.Sprintf("check port %d", admin)) {
		t.Errorf("default-server %q: want check port %d (the admin listener)", def[1], admin)
	}
	servers := regexp.MustCompile(`(?m)^\s+server \S+ (\S+)`).FindAllStringSubmatch(text, -1)
	if len(servers) != cfg.Cluster.Instances {
		t.Errorf("%d servers, cluster.instances %d", len(servers), cfg.Cluster.Instances)
	}
	listen := port(t, "listen", cfg.Server.Listen)
	for _, s := range servers {
		if port(t, "server", s[1]) != listen {
			t.Errorf("server %s: sluice listens on %d", s[1], listen)
		}
	}
	if path, err := exec.LookPath("haproxy"); err == nil {
		out, err := exec.Command(path, "-c", "-f", "haproxy/haproxy.cfg").CombinedOutput()
		if err != nil {
			t.Errorf("haproxy -c: %v\n%s", err, out)
		}
	} else {
		t.Log("haproxy not installed: syntax not checked (make test-deps installs it)")
	}
}
