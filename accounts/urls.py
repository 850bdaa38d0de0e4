from django.urls import path
from django.views.generic import RedirectView

from accounts.views import auth, ram

app_name = "accounts"
urlpatterns = [
    path("setup/", auth.setup, name="setup"),
    path("login/", auth.login_view, name="login"),
    path("login/mfa/", auth.login_mfa, name="login_mfa"),
    path("logout/", auth.logout_view, name="logout"),
    path("account/", auth.account, name="account"),
    path("account/mfa/begin/", auth.mfa_begin, name="mfa_begin"),
    path("account/mfa/confirm/", auth.mfa_confirm, name="mfa_confirm"),
    path("account/mfa/disable/", auth.mfa_disable, name="mfa_disable"),
    path("account/access-keys/", auth.access_key_create, name="access_key_create"),
    path("account/access-keys/<str:key_id>/<str:change>/", auth.access_key_change, name="access_key_change"),
    path("ram/", RedirectView.as_view(pattern_name="accounts:ram_users"), name="ram"),
    path("ram/users/", ram.users, name="ram_users"),
    path("ram/users/<str:name>/", ram.user_detail, name="ram_user"),
    path("ram/users/<str:name>/<str:change>/", ram.user_change, name="ram_user_change"),
    path("ram/groups/", ram.groups, name="ram_groups"),
    path("ram/groups/<str:name>/", ram.group_detail, name="ram_group"),
    path("ram/groups/<str:name>/<str:change>/", ram.group_change, name="ram_group_change"),
    path("ram/policies/", ram.policies, name="ram_policies"),
    path("ram/policies/<str:name>/", ram.policy_detail, name="ram_policy"),
    path("ram/policies/<str:name>/<str:change>/", ram.policy_change, name="ram_policy_change"),
    path("ram/authorizations/", ram.authorizations, name="ram_authorizations"),
    path("ram/authorizations/revoke/", ram.authorization_revoke, name="ram_authorization_revoke"),
    path("ram/simulator/", ram.simulator, name="ram_simulator"),
    path("ram/settings/", ram.settings_page, name="ram_settings"),
    path("ram/actions/", ram.actions, name="ram_actions"),
]
