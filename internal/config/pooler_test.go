package config_test

import "os"

// The pooler golden files name these variables in password_env; a
// variable that is set is what makes such a config valid.
func init() {
	os.Setenv("HOLDFAST_TEST_APP_PASSWORD", "app-secret")
	os.Setenv("HOLDFAST_TEST_SERVER_PASSWORD", "server-secret")
	os.Unsetenv("HOLDFAST_TEST_UNSET_PASSWORD")
}
