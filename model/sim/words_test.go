package sim

import "testing"

// The default catalog's archetypes get the vocabulary their words suggest.
func TestWordsFor(t *testing.T) {
	t.Parallel()
	for archetype, want := range map[string]*words{
		"adhd-student": &student, "junior-developer": &developer, "working-parent": &parent,
		"marathon-runner": &runner, "retired-teacher": &retiree, "team-lead": &worker,
		"night-shift-nurse": &worker, "power-user": &generic, "overwhelmed-newbie": &generic,
	} {
		if got := wordsFor(archetype); got != want {
			t.Errorf("wordsFor(%q) = %q…, want %q…", archetype, got.tasks[0], want.tasks[0])
		}
	}
}
