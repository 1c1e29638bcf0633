package runner

import (
	"context"
	"net/http"

	"github.com/persona-runner/persona-runner/authapi"
)

// authClient is Auth over the auth API's HTTP endpoints (SPEC §4).
type authClient struct{ c *authapi.Client }

// NewAuthClient returns the Auth that logs personas in at the auth API at baseURL.
func NewAuthClient(baseURL string, hc *http.Client) Auth {
	return authClient{authapi.NewClient(baseURL, hc)}
}

func (a authClient) Login(ctx context.Context, email, password string) (Session, error) {
	res, err := a.c.Login(ctx, email, password)
	if err != nil {
		return Session{}, err
	}
	return Session{UserID: res.User.ID, AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}, nil
}

func (a authClient) Refresh(ctx context.Context, refreshToken string) (string, error) {
	res, err := a.c.Refresh(ctx, refreshToken)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

func (a authClient) Spaces(ctx context.Context, accessToken string) ([]Space, error) {
	list, err := a.c.Spaces(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	out := make([]Space, len(list))
	for i, s := range list {
		out[i] = Space{ID: s.ID, Type: s.Metadata.Type}
	}
	return out, nil
}
