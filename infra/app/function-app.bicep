// Flex Consumption (FC1) plan and the Python 3.11 function app, with every app setting the
// code reads generated from ONE object (`appSettings` below). tests/test_infra.py compares
// its keys with shared/config.py APP_SETTINGS and with every %SETTING% in function_app.py.
//
// Flex Consumption rules followed here: runtime and version live in functionAppConfig, so
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE are NOT
// app settings; the package is deployed to a blob container the UAMI reads (no keys).
// tests/test_infra_flex.py holds the siteConfig properties and app settings Flex rejects or
// deprecates against every .bicep file.

@description('Function app name (also the first label of its default host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Host storage account name (AzureWebJobsStorage, deployment container, state, staging, queues).')
param storageAccountName string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights component name (its connection string is read here, never passed around).')
param appInsightsName string

@description('Maximum on-demand instances per function scale group.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Vault holding the static Snapchat client secret, read through a Key Vault reference.')
param configVaultName string

@description('URI of the vault the app reads, writes and deletes refresh tokens in (KEY_VAULT_URI).')
param tokenVaultUri string

@description('RUN_QUEUE_NAME')
param runQueueName string

@description('BATCH_QUEUE_NAME')
param batchQueueName string

@description('STATE_CONTAINER')
param stateContainerName string

@description('STAGING_CONTAINER')
param stagingContainerName string

@description('EXPORTS_ACCOUNT_URL: blob endpoint of the account holding the Customer Insights exports.')
param exportsAccountUrl string

@description('EXPORTS_CONTAINER')
param exportsContainerName string

@description('EXPORTS_OTHER_CONTAINERS: comma-separated, may be empty.')
param exportsOtherContainers string

@description('EXPORTS_PREFIX')
param exportsPrefix string

@description('REFRESH_SCHEDULE: six-field NCRONTAB, evaluated in UTC.')
param refreshSchedule string

@description('DEFAULT_PHONE_REGION')
param defaultPhoneRegion string

@description('MASS_REMOVAL_THRESHOLD')
param massRemovalThreshold string

@description('REMOVE_CHUNK_SIZE')
param removeChunkSize string

@description('SNAPCHAT_API_URL')
param snapchatApiUrl string

@description('SNAPCHAT_ACCOUNTS_URL')
param snapchatAccountsUrl string

@description('SNAPCHAT_CLIENT_ID: client id of the Snap OAuth app (not a secret).')
param snapchatClientId string

@description('SNAPCHAT_MAX_REQUESTS_PER_SECOND')
param snapchatMaxRequestsPerSecond string

@description('SNAPCHAT_RETRY_BUDGET_SECONDS')
param snapchatRetryBudgetSeconds string

@description('SNAPCHAT_REQUEST_TIMEOUT_SECONDS')
param snapchatRequestTimeoutSeconds string

@description('True when the Entra app registration used by App Service Authentication has a client credential stored in the config vault.')
param authClientCredentialInVault bool = false

@description('ENTRA_CLIENT_ID: application (client) id of the Entra app registration whose tokens the app accepts.')
param authClientId string

@description('ENTRA_TENANT_ID: tenant of that app registration.')
param authTenantId string

@description('ENTRA_AUDIENCES: accepted token audiences; empty for api://<client id> and <client id>.')
param authAllowedAudiences array = []

// Names of Key Vault secrets (names only, never values) and of the app setting that carries
// the Entra client credential to App Service Authentication.
var snapchatClientSecretVaultName = 'snapchat-client-secret'
var authCredentialVaultName = 'entra-auth-client-secret'
var authCredentialSettingName = 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (SNAPCHAT_CLIENT_SECRET) resolve with the UAMI, not a system identity.
    keyVaultReferenceIdentity: identityId
    // Flex Consumption rejects most siteConfig properties (ftpsState, alwaysOn, linuxFxVersion,
    // ...: ARM error 51021); tests/test_infra_flex.py holds the list. FTP and SCM basic
    // authentication are refused by the basicPublishingCredentialsPolicies below instead.
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Set only when the Entra app registration has a client credential (stored in the config vault).
var authCredentialSettings = authClientCredentialInVault ? {
  // Read by App Service Authentication (clientSecretSettingName in app/auth.bicep).
  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: '@Microsoft.KeyVault(VaultName=${configVaultName};SecretName=${authCredentialVaultName})'
} : {}

// The single source of the app settings. Values are identities, names, URLs and Key Vault
// references: no storage key, storage connection string or secret value appears here.
var appSettings = union({
  // Host storage, identity-based (the storage account has shared keys disabled).
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // DefaultAzureCredential / ManagedIdentityCredential in the code pick the UAMI.
  AZURE_CLIENT_ID: identityClientId
  // Telemetry with Entra ID auth (the component has local auth disabled, so the
  // instrumentation key in this connection string authorises nothing).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Refresh tokens: read, written and deleted by the app in the tokens vault.
  KEY_VAULT_URI: tokenVaultUri
  // Triggers (%REFRESH_SCHEDULE%, %RUN_QUEUE_NAME%, %BATCH_QUEUE_NAME%) and containers.
  REFRESH_SCHEDULE: refreshSchedule
  RUN_QUEUE_NAME: runQueueName
  BATCH_QUEUE_NAME: batchQueueName
  STATE_CONTAINER: stateContainerName
  STAGING_CONTAINER: stagingContainerName
  // Customer Insights exports.
  EXPORTS_ACCOUNT_URL: exportsAccountUrl
  EXPORTS_CONTAINER: exportsContainerName
  EXPORTS_OTHER_CONTAINERS: exportsOtherContainers
  EXPORTS_PREFIX: exportsPrefix
  // Data rules.
  DEFAULT_PHONE_REGION: defaultPhoneRegion
  MASS_REMOVAL_THRESHOLD: massRemovalThreshold
  REMOVE_CHUNK_SIZE: removeChunkSize
  // Snap Marketing API. The client secret is a Key Vault reference resolved by the platform.
  SNAPCHAT_API_URL: snapchatApiUrl
  SNAPCHAT_ACCOUNTS_URL: snapchatAccountsUrl
  SNAPCHAT_CLIENT_ID: snapchatClientId
  SNAPCHAT_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${configVaultName};SecretName=${snapchatClientSecretVaultName})'
  SNAPCHAT_MAX_REQUESTS_PER_SECOND: snapchatMaxRequestsPerSecond
  SNAPCHAT_RETRY_BUDGET_SECONDS: snapchatRetryBudgetSeconds
  SNAPCHAT_REQUEST_TIMEOUT_SECONDS: snapchatRequestTimeoutSeconds
  // Callers are verified by the app itself (shared/api/entra.py): Entra ID tokens of this
  // registration, checked against the tenant's keys at ENTRA_AUTHORITY. AUTH_MODE and
  // LOCAL_DEV_ROLES are never set here (the app refuses to start in Azure with them).
  ENTRA_TENANT_ID: authTenantId
  ENTRA_CLIENT_ID: authClientId
  ENTRA_AUDIENCES: join(authAllowedAudiences, ',')
  // https://login.microsoftonline.com in the public cloud (no trailing slash).
  ENTRA_AUTHORITY: substring(environment().authentication.loginEndpoint, 0, length(environment().authentication.loginEndpoint) - 1)
  // Public address of the app: the Snap OAuth redirect URI is built from it.
  PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
}, authCredentialSettings)

resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
}

// No basic (user name + password) publishing credentials: deploy with Entra ID
// (`func azure functionapp publish` or `az functionapp deployment source config-zip`).
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output authCredentialSettingName string = authClientCredentialInVault ? authCredentialSettingName : ''
