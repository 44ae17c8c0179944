// App Service Authentication ("Easy Auth") with Microsoft Entra ID in front of the whole app.
// Unauthenticated requests get 401; the code then checks the app roles (Admin, Contributor,
// Viewer) in X-MS-CLIENT-PRINCIPAL. The app registration and its roles are created
// out of band (docs/deploy.md, infra/entra-app-roles.json); this module only points at it.
//
// The Snap OAuth callback (/api/oauth/snapchat/callback) stays behind Easy Auth too: Snap
// redirects the admin's browser there, and that browser carries the Easy Auth session cookie
// it got when the admin signed in at /.auth/login/aad, so the callback is reachable by the
// signed-in admin and by nobody else.

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
      unauthenticatedClientAction: 'Return401'
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
      // Tokens are not needed by the code; only the session cookie and X-MS-CLIENT-PRINCIPAL.
      tokenStore: {
        enabled: false
      }
      preserveUrlFragmentsForLogins: false
    }
  }
}
