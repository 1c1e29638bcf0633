package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// smallCatalog has two personas and a team; tests change it to see updates.
const smallCatalog = `spaces:
  - slug: duo-team
    name: Duo
    type: team
    members: [persona.ada@mana.test, persona.bo@mana.test]
personas:
  - name: Ada
    email: persona.ada@mana.test
    archetype: power-user
    tickCadence: hourly
    timezone: Asia/Tokyo
    moduleMix: {todo: 0.6, notes: 0.4}
    systemPrompt: You are Ada, who keeps every list in perfect order.
  - name: Bo
    email: persona.bo@mana.test
    archetype: overwhelmed-newbie
    moduleMix: {calendar: 1}
    systemPrompt: You are Bo, new to apps and unsure what to tap.
`

func dbPath(dir string) string { return filepath.Join(dir, "persona-runner.db") }

// seedRows returns the KIND KEY OUTCOME rows of a seed report, in order.
func seedRows(out string) [][3]string {
	var rows [][3]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "persona" || f[0] == "space") {
			rows = append(rows, [3]string{f[0], f[1], f[2]})
		}
	}
	return rows
}

func TestSeedDefaultCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "seed", "--data", dir)
	if code != 0 {
		t.Fatalf("seed: code %d, stderr %q", code, errOut)
	}
	def := catalog.Default()
	var want [][3]string
	for _, p := range def.Personas {
		want = append(want, [3]string{"persona", p.Email, "created"})
	}
	for _, s := range def.Spaces {
		want = append(want, [3]string{"space", s.Slug, "created"})
	}
	if diff := cmp.Diff(want, seedRows(out)); diff != "" {
		t.Errorf("first seed report (-want +got):\n%s\n%s", diff, out)
	}
	if !strings.Contains(out, "KIND") || !strings.Contains(out, "created 12, updated 0, unchanged 0\n") {
		t.Errorf("first seed output:\n%s", out)
	}

	db := openStore(t, dbPath(dir))
	ctx := context.Background()
	list, err := db.ListPersonas(ctx, time.Time{})
	if err != nil || len(list) != 10 {
		t.Fatalf("store has %d personas (%v), want 10", len(list), err)
	}
	maya, err := db.PersonaByEmail(ctx, "persona.maya@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	if maya.TickCadence != persona.Weekdays || maya.Timezone != "Europe/Stockholm" || maya.Archetype != "working-parent" {
		t.Errorf("maya stored as %+v", maya)
	}
	for _, email := range []string{"persona.maya@mana.test", "persona.tom@mana.test", "persona.priya@mana.test", "persona.diego@mana.test"} {
		u, err := db.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		spaces, err := db.SpacesOfUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var slugs []string
		for _, s := range spaces {
			slugs = append(slugs, string(s.Type)+":"+s.Slug)
		}
		shared := "family:lindqvist-family"
		if strings.Contains(email, "priya") || strings.Contains(email, "diego") {
			shared = "team:launch-team"
		}
		if len(slugs) != 2 || slugs[0] != "personal:"+persona.SlugBase(email) || slugs[1] != shared {
			t.Errorf("%s is in spaces %v, want its personal space and %s", email, slugs, shared)
		}
		// The password is derived from the development secret, so the runner can log in.
		pw, _ := persona.DerivePassword(persona.DevSeedSecret, email)
		if !persona.CheckPassword(u.PasswordHash, pw) {
			t.Errorf("%s: stored password is not the derived one", email)
		}
	}

	// Running it again changes nothing.
	code, out, errOut = run(t, nil, "seed", "--data", dir)
	if code != 0 || !strings.Contains(out, "created 0, updated 0, unchanged 12\n") {
		t.Fatalf("second seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	for _, r := range seedRows(out) {
		if r[2] != "unchanged" {
			t.Errorf("second seed changed %v", r)
		}
	}
}

func TestSeedDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "seed", "--data", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "nothing was written") || !strings.Contains(out, "created 12, updated 0, unchanged 0") {
		t.Fatalf("dry run: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if _, err := os.Stat(dbPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("a dry run created the store %s (stat: %v)", dbPath(dir), err)
	}
	// Against an existing store it writes nothing either.
	if code, _, errOut := run(t, nil, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	code, out, errOut = run(t, nil, "seed", "--data", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "created 12, updated 0, unchanged 0") {
		t.Fatalf("dry run on an empty store: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	db := openStore(t, dbPath(dir))
	list, err := db.ListPersonas(context.Background(), time.Time{})
	if err != nil || len(list) != 0 {
		t.Fatalf("dry run wrote %d personas (%v)", len(list), err)
	}
}

func TestReadOnlyCommandsCreateNoStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere", "store.db")
	for _, args := range [][]string{
		{"report", "--db", missing},
		{"personas", "list", "--db", missing},
		{"personas", "show", "persona.ben@mana.test", "--db", missing},
	} {
		code, _, errOut := run(t, nil, args...)
		if code != 3 || !strings.Contains(errOut, missing) {
			t.Errorf("%v: code %d, stderr %q; want 3 naming %s", args, code, errOut, missing)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !os.IsNotExist(err) {
		t.Errorf("a read-only command created %s", filepath.Join(dir, "nowhere"))
	}
	code, _, errOut := run(t, nil, "report", "--db", "mysql://root@127.0.0.1/db")
	if code != 2 || !strings.Contains(errOut, `unknown DSN scheme "mysql://"`) {
		t.Errorf("report --db mysql://…: code %d, stderr %q; want the unknown scheme named", code, errOut)
	}
	if _, err := os.Stat("mysql:"); !os.IsNotExist(err) {
		t.Errorf("report --db mysql://… created a directory mysql:")
	}
}

func TestSeedCatalogFileUpdates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cat := writeFile(t, dir, "cat.yaml", smallCatalog)
	code, out, errOut := run(t, nil, "seed", "--data", dir, "--catalog", cat)
	if code != 0 || !strings.Contains(out, "created 3, updated 0, unchanged 0") || !strings.Contains(out, "seeded from "+cat) {
		t.Fatalf("seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	// A changed prompt and a new member order: the persona is updated, the rest left alone.
	changed := strings.Replace(smallCatalog, "perfect order.", "perfect order, and notices every slow tool.", 1)
	writeFile(t, dir, "cat.yaml", changed)
	code, out, errOut = run(t, nil, "seed", "--data", dir, "--catalog", cat)
	if code != 0 || !strings.Contains(out, "created 0, updated 1, unchanged 2") {
		t.Fatalf("re-seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	if !regexp.MustCompile(`persona\s+persona\.ada@mana\.test\s+updated\s+\S*systemPrompt`).MatchString(out) {
		t.Errorf("update detail does not name the prompt:\n%s", out)
	}
	// JSON catalogs in Mana's shape load as they are.
	js := writeFile(t, dir, "mana.json", `[{"email":"persona.cy@mana.test","name":"Cy","archetype":"skeptic",
		"systemPrompt":"You are Cy, who doubts every button.","moduleMix":{"notes":1},"tickCadence":"weekdays"}]`)
	code, out, errOut = run(t, nil, "seed", "--data", dir, "--catalog", js)
	if code != 0 || !strings.Contains(out, "created 1, updated 0, unchanged 0") {
		t.Fatalf("seed JSON: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
}

// TestSeedBadCatalog checks the "bad input" rule: exit status 1, a message naming where, and
// nothing written — the store is not even opened.
func TestSeedBadCatalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		catalog string
		want    []string // in the message
	}{
		{"malformed", strings.Replace(smallCatalog, "{todo: 0.6, notes: 0.4}", "{todo: 0.6, notes: 0.4", 1),
			[]string{"cat.yaml:13:"}},
		{"unknown module", strings.Replace(smallCatalog, "{calendar: 1}", "{calendar: 1, finance: 0.5}", 1),
			[]string{"cat.yaml:17:", "personas[1] (persona.bo@mana.test)", "moduleMix.finance", `unknown module "finance"`}},
		{"duplicate email", strings.Replace(smallCatalog, "email: persona.bo@mana.test", "email: persona.ada@mana.test", 1),
			[]string{"cat.yaml:15:", "personas[1] (persona.ada@mana.test) email: duplicates personas[0]"}},
		{"unknown field", strings.Replace(smallCatalog, "tickCadence: hourly", "tickCadance: hourly", 1),
			[]string{"cat.yaml:10:", "personas[0] (persona.ada@mana.test) tickCadance: unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cat := writeFile(t, dir, "cat.yaml", tt.catalog)
			data := filepath.Join(dir, "data")
			code, out, errOut := run(t, nil, "seed", "--data", data, "--catalog", cat)
			if code != 2 {
				t.Fatalf("code %d, want 2; stdout %q, stderr %q", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not name %q:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("a bad catalog touched the store: %v", err)
			}
		})
	}
	// A missing catalog file is a clear error too.
	dir := t.TempDir()
	code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", filepath.Join(dir, "nope.yaml"))
	if code != 2 || !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("missing catalog: code %d, stderr %q", code, errOut)
	}
}

// TestSeedBadCatalogKeepsStore checks that a bad catalog leaves an existing store as it was.
func TestSeedBadCatalogKeepsStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cat := writeFile(t, dir, "cat.yaml", smallCatalog)
	if code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", cat); code != 0 {
		t.Fatalf("seed: %s", errOut)
	}
	bad := strings.Replace(smallCatalog, "Asia/Tokyo", "Asia/Atlantis", 1)
	bad = strings.Replace(bad, "new to apps", "now renamed and new to apps", 1)
	writeFile(t, dir, "cat.yaml", bad)
	code, _, errOut := run(t, nil, "seed", "--data", dir, "--catalog", cat)
	if code != 2 || !strings.Contains(errOut, "cat.yaml:11: personas[0] (persona.ada@mana.test) timezone") {
		t.Fatalf("bad catalog: code %d, stderr %q", code, errOut)
	}
	db := openStore(t, dbPath(dir))
	bo, err := db.PersonaByEmail(context.Background(), "persona.bo@mana.test")
	if err != nil || strings.Contains(bo.SystemPrompt, "renamed") {
		t.Fatalf("a bad catalog changed the store: %v %q", err, bo.SystemPrompt)
	}
}

func TestSeedSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cat := writeFile(t, dir, "cat.yaml", smallCatalog)
	prod := map[string]string{"APP_ENV": "production"}
	code, _, errOut := run(t, prod, "seed", "--data", dir, "--catalog", cat)
	if code != 2 || !strings.Contains(errOut, "development seed secret") || !strings.Contains(errOut, "PERSONA_SEED_SECRET") {
		t.Fatalf("production with the dev secret: code %d, stderr %q", code, errOut)
	}
	code, _, _ = run(t, map[string]string{"NODE_ENV": "production"}, "seed", "--data", dir, "--catalog", cat, "--secret", persona.DevSeedSecret)
	if code != 2 {
		t.Fatalf("NODE_ENV=production with --secret of the dev secret: code %d", code)
	}
	if _, err := os.Stat(dbPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("refused seed touched the store: %v", err)
	}

	prod["PERSONA_SEED_SECRET"] = "prod-secret-from-env"
	if code, _, errOut := run(t, prod, "seed", "--data", dir, "--catalog", cat); code != 0 {
		t.Fatalf("production with a real secret: %s", errOut)
	}
	db := openStore(t, dbPath(dir))
	u, err := db.UserByEmail(context.Background(), "persona.ada@mana.test")
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := persona.DerivePassword("prod-secret-from-env", "persona.ada@mana.test")
	if !persona.CheckPassword(u.PasswordHash, pw) {
		t.Error("password not derived from PERSONA_SEED_SECRET")
	}
	// --secret wins over the environment, and a new secret updates the password.
	code, out, errOut := run(t, prod, "seed", "--data", dir, "--catalog", cat, "--secret", "flag-secret")
	if code != 0 || !strings.Contains(out, "updated 2") {
		t.Fatalf("seed with --secret: code %d, out %s, stderr %q", code, out, errOut)
	}
	u, _ = db.UserByEmail(context.Background(), "persona.ada@mana.test")
	pw, _ = persona.DerivePassword("flag-secret", "persona.ada@mana.test")
	if !persona.CheckPassword(u.PasswordHash, pw) {
		t.Error("password not derived from --secret")
	}
}

// TestSeedPostgres runs the seed against PostgreSQL when PERSONA_TEST_POSTGRES_URL is set.
func TestSeedPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	code, out, errOut := run(t, nil, "seed", "--db", dsn)
	if code != 0 || !strings.Contains(out, "created 12, updated 0, unchanged 0") {
		t.Fatalf("seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "seed", "--db", dsn)
	if code != 0 || !strings.Contains(out, "created 0, updated 0, unchanged 12") {
		t.Fatalf("second seed: code %d, out:\n%s\nstderr %q", code, out, errOut)
	}
	// The test server trusts local connections, so a password in the URL is accepted and ignored:
	// migrate must print the store without it.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
	code, out, _ = run(t, nil, "migrate", "--db", u.String())
	if code != 0 || !strings.HasPrefix(out, "postgres store ") || !strings.Contains(out, "up to date") || !strings.Contains(out, ", app schema version 3)") ||
		strings.Contains(out, "s3cret-pw") || !strings.Contains(out, ":xxxxx@") {
		t.Fatalf("migrate: code %d, out %q (want the password shown as xxxxx)", code, out)
	}
	code, out, _ = run(t, nil, "cleanup", "--db", dsn, "--all", "--yes")
	if code != 0 || !strings.Contains(out, "deleted 10, kept 0") {
		t.Fatalf("cleanup --all: code %d, out %q", code, out)
	}
}
