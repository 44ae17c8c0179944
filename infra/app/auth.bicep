// App Service Authentication ("Easy Auth") with Microsoft Entra ID in front of the whole app:
// a browser without a session is sent to sign in; a script sends an Entra access token. It is
// a first layer only. The app verifies every caller itself (shared/api/entra.py): the
// bearer token, or the ID token this layer's token store adds to a signed-in browser's
// requests (X-MS-TOKEN-AAD-ID-TOKEN), and reads the app roles (Admin, Contributor, Viewer)
// from it. X-MS-CLIENT-PRINCIPAL is not trusted. The app registration and its roles are
// created out of band (docs/deploy.md, infra/entra-app-roles.json).
//
// The Snap OAuth callback (/api/oauth/snapchat/callback) stays behind this layer too: Snap
// redirects the admin's browser there, with the session of the admin who started the sign-in.

@description('Name of the function app.')
param siteName string

@description('Application (client) id of the Entra app registration that protects the app.')
param clientId string

@description('Entra tenant of the app registration.')
param tenantId string

@description('Accepted token audiences. Empty: api://<clientId> and <clientId>.')
param allowedAudiences array = []

@description('Name of the app setting holding the registration\'s client credential (a Key Vault reference), or empty when the registration has none.')
param clientCredentialSettingName string = ''

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

var audiences = empty(allowedAudiences) ? [
  'api://${clientId}'
  clientId
] : allowedAudiences

// The client credential is referenced by app-setting NAME only (its value is a Key Vault
// reference set in function-app.bicep), and only when the registration has one.
var registration = union({
  clientId: clientId
  // https://login.microsoftonline.com/<tenant>/v2.0 in the public cloud.
  openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
}, empty(clientCredentialSettingName) ? {} : {
  clientSecretSettingName: clientCredentialSettingName
})

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: true
      // Browsers are sent to sign in; requests with X-Requested-With: XMLHttpRequest get 401
      // (https://learn.microsoft.com/azure/app-service/overview-authentication-authorization).
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
    }
    httpSettings: {
      requireHttps: true
      routes: {
        apiPrefix: '/.auth'
      }
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: registration
        validation: {
          allowedAudiences: audiences
        }
        login: {
          disableWWWAuthenticate: false
        }
      }
    }
    login: {
      // The token store gives the app a signed-in browser's ID token to verify
      // (https://learn.microsoft.com/azure/app-service/configure-authentication-oauth-tokens).
      tokenStore: {
        enabled: true
      }
      preserveUrlFragmentsForLogins: false
    }
  }
}
