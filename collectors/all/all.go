// Package all imports every built-in collector for its registration side effect.
package all

import (
	_ "github.com/tickmark-dev/tickmark/collectors/aws"
	_ "github.com/tickmark-dev/tickmark/collectors/exec"
	_ "github.com/tickmark-dev/tickmark/collectors/github"
	_ "github.com/tickmark-dev/tickmark/collectors/http"
	_ "github.com/tickmark-dev/tickmark/collectors/jira"
	_ "github.com/tickmark-dev/tickmark/collectors/okta"
)
