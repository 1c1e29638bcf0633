package sim

import "strings"

// words is a small vocabulary that makes generated values read like something a person of one
// archetype would type. The lists are short on purpose: plausibility, not variety, is the point.
type words struct {
	tasks     []string // todo titles, reminders
	notes     []string // note and entry titles
	sentences []string // bodies, descriptions, journal lines
	habits    []string // habit and goal names
	tags      []string // tags, categories, labels
	places    []string // locations
}

var generic = words{
	tasks: []string{"Buy groceries", "Call the dentist", "Pay the electricity bill", "Reply to Sam",
		"Water the plants", "Book a haircut", "Return the library books", "Back up the laptop"},
	notes: []string{"Ideas for the weekend", "Shopping list", "Things to remember", "Meeting notes",
		"Gift ideas", "Recipes to try"},
	sentences: []string{"Felt calmer after a short walk.", "Too many small things today, but I got through them.",
		"Remember to start earlier tomorrow.", "A good day overall, slept well.",
		"Need to keep this shorter next time.", "Mostly errands and a long phone call."},
	habits: []string{"Drink water", "Read 10 pages", "Stretch", "Walk after lunch", "No phone after 22:00"},
	tags:   []string{"home", "errands", "health", "later", "ideas"},
	places: []string{"Home", "Office", "Supermarket", "Park"},
}

var student = words{
	tasks: []string{"Finish the statistics assignment", "Read chapter 4 for seminar", "Email the tutor",
		"Print lecture slides", "Prepare the group presentation", "Renew the library card", "Revise for the exam"},
	notes: []string{"Lecture notes: cell biology", "Essay outline", "Exam topics", "Group project plan",
		"Questions for office hours"},
	sentences: []string{"Couldn't focus in the morning lecture, better after coffee.",
		"Started the essay, only the introduction so far.", "Library was full again.",
		"Group meeting went fine, I own the slides.", "Procrastinated, then did two hours straight."},
	habits: []string{"Study 25 minutes", "Review flashcards", "Sleep before midnight", "Morning walk"},
	tags:   []string{"uni", "exam", "reading", "group", "deadline"},
	places: []string{"Library", "Lecture hall B", "Campus cafe", "Dorm"},
}

var parent = words{
	tasks: []string{"Pack the kids' swimming bags", "Sign the school permission slip", "Buy nappies",
		"Book the pediatrician", "Plan dinners for the week", "Pick up Mia at 15:30", "Order a birthday present"},
	notes: []string{"School holidays", "Meal plan", "Babysitter numbers", "Birthday party ideas", "Kids' sizes"},
	sentences: []string{"Busy morning, everyone was late but happy.", "The little one slept through the night!",
		"Too many school emails today.", "Managed ten minutes for myself in the evening.",
		"Dinner was a success, nobody complained."},
	habits: []string{"Family walk", "Read a bedtime story", "Prep lunches the night before", "Drink water"},
	tags:   []string{"kids", "school", "family", "meals", "appointments"},
	places: []string{"School", "Playground", "Grandma's", "Swimming pool"},
}

var developer = words{
	tasks: []string{"Fix the flaky login test", "Review the pull request", "Update dependencies",
		"Write the migration for orders", "Rotate the API keys", "Profile the slow endpoint", "Reply to the on-call page"},
	notes: []string{"Architecture sketch", "Retro notes", "Incident timeline", "Ideas for the CLI", "Reading list"},
	sentences: []string{"Spent the morning chasing a race condition.", "Deploy went out without surprises.",
		"Pairing helped, finally understood the cache layer.", "Too many meetings, little code.",
		"Wrote tests first today and it paid off."},
	habits: []string{"Code review before lunch", "Inbox zero", "Stand up every hour", "Learn one Go thing"},
	tags:   []string{"backend", "bug", "review", "infra", "oncall"},
	places: []string{"Office", "Home office", "Coworking space"},
}

var runner = words{
	tasks: []string{"Register for the half marathon", "Buy new running shoes", "Plan the long run route",
		"Book a physio session", "Charge the GPS watch", "Stretch after the interval session"},
	notes: []string{"Training plan", "Race day checklist", "Split times", "Shoe mileage", "Recovery notes"},
	sentences: []string{"Easy 8 km, legs felt heavy at first.", "Intervals went better than expected.",
		"Rest day, a bit restless.", "Long run in the rain, still good.", "Slight knee pain, taking it easy."},
	habits: []string{"Run 5 km", "Stretch 10 minutes", "Foam roll", "Sleep 8 hours", "Drink water"},
	tags:   []string{"training", "race", "recovery", "nutrition", "gear"},
	places: []string{"Riverside path", "Track", "City park", "Forest trail"},
}

var worker = words{
	tasks: []string{"Prepare the 1:1 agenda", "Swap the Saturday shift", "Send the draft to the editor",
		"Book the team offsite room", "Answer the hospital HR email", "Follow up with the source", "Update the rota"},
	notes: []string{"Team priorities", "Interview notes", "Shift handover", "Story ideas", "Feedback to give"},
	sentences: []string{"Long shift, but the handover went smoothly.", "Two meetings could have been emails.",
		"Finally finished the draft before the deadline.", "The team seemed tired; keep Friday light.",
		"Slept badly after the night shift."},
	habits: []string{"No email after 20:00", "Walk at lunch", "Drink water", "Sleep 7 hours", "Write 300 words"},
	tags:   []string{"work", "team", "shift", "deadline", "private"},
	places: []string{"Ward 3", "Newsroom", "Meeting room 2", "Home office"},
}

var retiree = words{
	tasks: []string{"Water the tomatoes", "Call my granddaughter", "Pick up the prescription", "Return the book club novel",
		"Book the bus trip", "Write a birthday card for Hanna"},
	notes: []string{"Book club picks", "Garden plan", "Recipes from Mum", "Grandchildren's birthdays", "Trip ideas"},
	sentences: []string{"A quiet morning in the garden.", "The book club discussion ran long, lovely.",
		"Knees a bit stiff, took the short walk.", "The grandchildren visited, the house is loud and happy.",
		"Finally sorted the old photos."},
	habits: []string{"Morning walk", "Crossword", "Read an hour", "Stretch", "Call a friend"},
	tags:   []string{"garden", "family", "books", "health", "travel"},
	places: []string{"Garden", "Library", "Community centre", "Pharmacy"},
}

// wordsFor picks the vocabulary by archetype keywords, falling back to generic.
func wordsFor(archetype string) *words {
	a := strings.ToLower(archetype)
	switch {
	case containsAny(a, "student", "study", "university", "college", "pupil"):
		return &student
	case containsAny(a, "parent", "mom", "mum", "dad", "family"):
		return &parent
	case containsAny(a, "dev", "engineer", "programmer", "coder", "hacker"):
		return &developer
	case containsAny(a, "runner", "athlete", "fitness", "marathon", "sport"):
		return &runner
	case containsAny(a, "retire", "senior", "grand", "pension"):
		return &retiree
	case containsAny(a, "lead", "manager", "nurse", "journalist", "shift", "work", "office", "consultant"):
		return &worker
	}
	return &generic
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Traits the simulator plays, recognised from the archetype.
func isNewbie(archetype string) bool {
	return containsAny(strings.ToLower(archetype), "newbie", "overwhelmed", "beginner")
}

func isPowerUser(archetype string) bool {
	return containsAny(strings.ToLower(archetype), "power", "meticulous")
}

// probeText is the non-ASCII text a power user pastes to see whether the app copes.
const probeText = "Zoë — 東京 ✓"
