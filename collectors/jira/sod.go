package jira

import (
	"fmt"
	"strings"
	"time"
)

// personKey identifies a person: the Cloud account ID, or the Data Center
// user name.
func personKey(p *Person) string {
	if p == nil {
		return ""
	}
	if p.AccountID != "" {
		return p.AccountID
	}
	return p.Name
}

func label(p *Person) string {
	if p.DisplayName != "" {
		return fmt.Sprintf("%s (%s)", p.DisplayName, personKey(p))
	}
	return personKey(p)
}

// splitIDs reads a multi-user picker's changelog value: "id1,id2" or
// "[id1, id2]".
func splitIDs(s *string) []string {
	if s == nil {
		return nil
	}
	v := strings.Trim(strings.TrimSpace(*s), "[]")
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// segregation checks one ticket's approvals against its reporter, assignee
// and implementer, and whether approval came before the first transition
// into a done status. hs are the histories, oldest first.
func segregation(t *Ticket, cfg *Config, hs []rawHistory, approverName string) *Segregation {
	s := &Segregation{Approvers: []Person{}, Reporter: t.Reporter, Assignee: t.Assignee, Implementer: t.Implementer,
		ImplementerField: cfg.ImplementerField, DoneStatuses: cfg.DoneStatuses}
	seen := map[string]bool{}
	var approvedAt time.Time
	approve := func(p Person, at time.Time) {
		if k := personKey(&p); k != "" && !seen[k] {
			seen[k] = true
			s.Approvers = append(s.Approvers, p)
		}
		if !at.IsZero() && (approvedAt.IsZero() || at.Before(approvedAt)) {
			approvedAt = at
		}
	}
	for _, a := range t.JSMApprovals {
		var at time.Time
		if a.FinalDecision == "approved" && a.Completed != nil {
			at, _ = parseJiraTime(*a.Completed)
		}
		for _, ap := range a.Approvers {
			if ap.Decision == "approved" {
				approve(ap.Person, at)
			}
		}
	}
	current := map[string]Person{}
	for _, p := range t.Approvers {
		current[personKey(&p)] = p
	}
	var doneAt time.Time
	for _, h := range hs {
		at, _ := parseJiraTime(string(h.Created))
		for _, it := range h.Items {
			field := fieldOf(it.Field, it.FieldID, cfg.ApproverField, approverName)
			switch {
			case cfg.ApproverField != "" && field == cfg.ApproverField:
				before := map[string]bool{}
				for _, id := range splitIDs(it.From) {
					before[id] = true
				}
				for _, id := range splitIDs(it.To) {
					if before[id] {
						continue
					}
					p, ok := current[id]
					if !ok {
						p = Person{AccountID: id}
						if t.Reporter != nil && t.Reporter.AccountID == "" { // Data Center names users
							p = Person{Name: id}
						}
					}
					approve(p, at)
				}
			case field == "status" && doneAt.IsZero() && it.ToString != nil && isDone(cfg.DoneStatuses, *it.ToString):
				doneAt = at
			}
		}
	}
	// Approvers set when the ticket was created leave no changelog entry.
	for _, p := range t.Approvers {
		approve(p, time.Time{})
	}
	if !approvedAt.IsZero() {
		v := fmtTime(approvedAt)
		s.ApprovedAt = &v
	}
	if !doneAt.IsZero() {
		v := fmtTime(doneAt)
		s.DoneAt = &v
		ok := !approvedAt.IsZero() && !approvedAt.After(doneAt)
		s.ApprovedBeforeDone = &ok
		if approvedAt.IsZero() {
			s.Reasons = append(s.Reasons, "no approval time recorded before the transition to "+strings.Join(cfg.DoneStatuses, "/"))
		} else if !ok {
			s.Reasons = append(s.Reasons, fmt.Sprintf("approved at %s, after the transition to a done status at %s", fmtTime(approvedAt), fmtTime(doneAt)))
		}
	}
	if cfg.ApproverField == "" && t.JSMApprovals == nil {
		s.Reasons = append(s.Reasons, "no approval source: set approver_field, or use a service project whose approvals the account can read")
		if t.JSMApprovalsNote != "" {
			s.Reasons = append(s.Reasons, "JSM approvals: "+t.JSMApprovalsNote)
		}
		return s
	}
	independent := len(s.Approvers) > 0
	if !independent {
		s.Reasons = append(s.Reasons, "no approval recorded")
	}
	for i := range s.Approvers {
		a := &s.Approvers[i]
		for _, role := range []struct {
			name string
			p    *Person
		}{{"reporter", t.Reporter}, {"assignee", t.Assignee}, {"implementer", t.Implementer}} {
			if role.p != nil && personKey(role.p) == personKey(a) {
				independent = false
				s.Reasons = append(s.Reasons, fmt.Sprintf("approver %s is the %s", label(a), role.name))
			}
		}
	}
	if cfg.ImplementerField != "" && t.Implementer == nil {
		s.Reasons = append(s.Reasons, "implementer field "+cfg.ImplementerField+" is empty")
	}
	s.IndependentApproval = &independent
	return s
}

func isDone(statuses []string, s string) bool {
	for _, d := range statuses {
		if strings.EqualFold(d, s) {
			return true
		}
	}
	return false
}
