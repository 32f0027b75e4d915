package flagstore

import "context"

// Store is the persistence the Service needs. Each method that takes
// Changes must write them in the same transaction as the state change, so
// the ledger and the state never disagree. A Store is scoped to one
// application and configuration profile.
type Store interface {
	// CreateVersion stores v with the next version number (1, 2, …) and
	// returns it numbered.
	CreateVersion(ctx context.Context, v Version, c Change) (Version, error)
	// Versions lists every version, oldest first.
	Versions(ctx context.Context) ([]Version, error)
	// PutEnvironment creates or replaces an environment.
	PutEnvironment(ctx context.Context, e Environment, c Change) error
	// Environments lists the environments.
	Environments(ctx context.Context) ([]Environment, error)
	// SaveDeployment creates or replaces the deployment with d's
	// environment and number.
	SaveDeployment(ctx context.Context, d Deployment, changes ...Change) error
	// Deployments lists an environment's deployments, oldest first.
	Deployments(ctx context.Context, env string) ([]Deployment, error)
}
