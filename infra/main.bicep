// Snap audience sync: everything the function app needs, in one resource group.
//
//   core/identity.bicep      user-assigned managed identity (the app's only identity)
//   core/monitoring.bicep    Log Analytics + Application Insights (local auth off)
//   core/storage.bicep       host storage: deployment/state/staging containers, queues + poison queues
//   core/keyvault.bicep      two RBAC vaults: config (Snap client secret) and tokens (refresh tokens)
//   app/rbac.bicep           role assignments in this resource group
//   app/exports-access.bicep read-only access to the exports container (maybe another resource group)
//   app/function-app.bicep   Flex Consumption plan, function app and its app settings
//   app/auth.bicep           App Service Authentication (Entra ID sign-in in front of the app)
//   ops/diagnostics.bicep    the function app's logs (FunctionAppLogs) into the workspace
//   ops/workbook.bicep       workbook of runs and audience sizes (run events in AppEvents)
//   ops/alerts.bicep         e-mail alerts on the run events; only with alertEmailAddresses
//
// Plain resource declarations only (no registry modules), so `bicep build` works offline.
// Deploy: docs/deploy.md.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Naming and placement
// ---------------------------------------------------------------------------------------------

@description('Short environment name (letters, digits, hyphens), used in resource names, e.g. "snapaud-prod".')
@minLength(2)
@maxLength(16)
param environmentName string

@description('Azure region of every resource (must offer Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Function app name; empty for func-<environmentName>-<unique suffix>.')
param functionAppName string = ''

@description('Tags applied to every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------
// Scale (Flex Consumption)
// ---------------------------------------------------------------------------------------------

@description('Maximum on-demand instances per function scale group (each queue function and the HTTP group scale apart). The Snap request rate does not grow with it: every instance reserves its send times in one schedule in host storage (docs/deploy.md).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 1

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------------------------------------
// Queues and containers in host storage (defaults match shared/config.py APP_SETTINGS)
// ---------------------------------------------------------------------------------------------

@description('RUN_QUEUE_NAME; its poison queue <name>-poison is created too.')
@minLength(3)
@maxLength(56)
param runQueueName string = 'export-runs'

@description('BATCH_QUEUE_NAME; its poison queue <name>-poison is created too.')
@minLength(3)
@maxLength(56)
param batchQueueName string = 'upload-batches'

@description('STATE_CONTAINER: connections, exports, runs and hash snapshots.')
param stateContainerName string = 'snap-audience-state'

@description('STAGING_CONTAINER: per-run hash files, deleted by a lifecycle rule.')
param stagingContainerName string = 'snap-audience-staging'

@description('Days after which blobs in the staging container are deleted.')
@minValue(1)
param stagingRetentionDays int = 7

// ---------------------------------------------------------------------------------------------
// Customer Insights exports
// ---------------------------------------------------------------------------------------------

@description('Existing storage account Customer Insights exports to. Empty: the exports container is created in the host storage account.')
param exportsStorageAccountName string = ''

@description('Resource group of exportsStorageAccountName (same subscription). Empty: this resource group.')
param exportsStorageAccountResourceGroup string = ''

@description('EXPORTS_CONTAINER. In an existing account the container must already exist.')
param exportsContainerName string = 'customer-insights'

@description('EXPORTS_OTHER_CONTAINERS: other containers of the exports account that an export may name (each must exist; the app may read each). Empty: only exportsContainerName.')
param exportsOtherContainerNames array = []

@description('EXPORTS_PREFIX: folder of the exports inside the container ("" for the root).')
param exportsPrefix string = ''

// ---------------------------------------------------------------------------------------------
// Behaviour (defaults match shared/config.py APP_SETTINGS)
// ---------------------------------------------------------------------------------------------

@description('REFRESH_SCHEDULE: six-field NCRONTAB ({second} {minute} {hour} {day} {month} {day-of-week}), always UTC on Flex Consumption.')
param refreshSchedule string = '0 0 3 * * *'

@description('DEFAULT_PHONE_REGION: ISO 3166 region for phone numbers without a country code.')
param defaultPhoneRegion string = 'US'

@description('MASS_REMOVAL_THRESHOLD: share (0..1) of an audience a run may remove without an explicit override.')
param massRemovalThreshold string = '0.5'

@description('REMOVE_CHUNK_SIZE: identifiers per DELETE request to Snap.')
param removeChunkSize string = '10000'

// ---------------------------------------------------------------------------------------------
// Snap Marketing API
// ---------------------------------------------------------------------------------------------

@description('SNAPCHAT_CLIENT_ID: client id of the Snap OAuth app (public). Empty on the first deployment: the Snap app can only be created once the redirect URI (output SNAPCHAT_REDIRECT_URI) is known. Its client secret goes to the config vault as "snapchat-client-secret", never here.')
param snapchatClientId string = ''

@description('SNAPCHAT_API_URL')
param snapchatApiUrl string = 'https://adsapi.snapchat.com'

@description('SNAPCHAT_ACCOUNTS_URL')
param snapchatAccountsUrl string = 'https://accounts.snapchat.com'

@description('SNAPCHAT_MAX_REQUESTS_PER_SECOND: requests per second the whole app sends per Snap connection (access token); twice that across connections. Snap allows about 10 and 20.')
param snapchatMaxRequestsPerSecond string = '8'

@description('SNAPCHAT_RETRY_BUDGET_SECONDS')
param snapchatRetryBudgetSeconds string = '120'

@description('SNAPCHAT_REQUEST_TIMEOUT_SECONDS')
param snapchatRequestTimeoutSeconds string = '60'

// ---------------------------------------------------------------------------------------------
// App Service Authentication (Entra ID)
// ---------------------------------------------------------------------------------------------

@description('Application (client) id of the Entra app registration with the app roles Admin, Contributor and Viewer.')
param authClientId string

@description('Tenant of that app registration.')
param authTenantId string = subscription().tenantId

@description('Accepted token audiences; empty for api://<authClientId> and <authClientId>.')
param authAllowedAudiences array = []

@description('True when the app registration has a client credential stored in the config vault as "entra-auth-client-secret" (read via the MICROSOFT_PROVIDER_AUTHENTICATION_SECRET setting). False: sign-in uses ID tokens only and needs no credential.')
param authClientCredentialInVault bool = false

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

@description('Soft-delete retention of both vaults in days. With purge protection a deleted vault name stays reserved this long.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionDays int = 90

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// ---------------------------------------------------------------------------------------------
// Operations: alerts on the run events (README "Alerts"; docs/deploy.md "Alerts")
// ---------------------------------------------------------------------------------------------

@description('E-mail addresses that receive the alerts. Empty (the default): no action group and no alert rules are deployed; the workbook shows the same conditions.')
param alertEmailAddresses array = []

@description('Alert when, in an export\'s latest run, the share of rows with an invalid value in one profile column exceeds this percentage.')
@minValue(1)
@maxValue(100)
param alertInvalidSharePercent int = 20

@description('Alert when the audience size Snap reports after a run is more than this percentage below the size at the export\'s previous run.')
@minValue(1)
@maxValue(100)
param alertAudienceDropPercent int = 30

@description('Alert when an active export scheduled with every refresh has had no successful run for more than this many days.')
@minValue(1)
@maxValue(365)
param alertStaleAfterDays int = 2

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var appName = empty(functionAppName) ? 'func-${environmentName}-${resourceToken}' : functionAppName
var names = {
  identity: 'id-${environmentName}-${resourceToken}'
  plan: 'plan-${environmentName}-${resourceToken}'
  logAnalytics: 'log-${environmentName}-${resourceToken}'
  appInsights: 'appi-${environmentName}-${resourceToken}'
  storage: 'st${resourceToken}'
  configVault: 'kvc-${resourceToken}'
  tokenVault: 'kvt-${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  alertPrefix: 'snapaud-${environmentName}'
  workbook: 'Snap audience sync runs (${environmentName})'
}

var exportsInHostStorage = empty(exportsStorageAccountName)
var exportsAccountName = exportsInHostStorage ? names.storage : exportsStorageAccountName
var exportsResourceGroupName = (exportsInHostStorage || empty(exportsStorageAccountResourceGroup)) ? resourceGroup().name : exportsStorageAccountResourceGroup
var hostContainerNames = concat([
  names.deploymentContainer
  stateContainerName
  stagingContainerName
], exportsInHostStorage ? [
  exportsContainerName
] : [])

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

module identity 'core/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    containerNames: hostContainerNames
    runQueueName: runQueueName
    batchQueueName: batchQueueName
    stagingContainerName: stagingContainerName
    stagingRetentionDays: stagingRetentionDays
  }
}

module configVault 'core/keyvault.bicep' = {
  name: 'config-vault'
  params: {
    name: names.configVault
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
  }
}

module tokenVault 'core/keyvault.bicep' = {
  name: 'token-vault'
  params: {
    name: names.tokenVault
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    configVaultName: configVault.outputs.name
    tokenVaultName: tokenVault.outputs.name
  }
}

module exportsAccess 'app/exports-access.bicep' = {
  name: 'exports-access'
  scope: resourceGroup(exportsResourceGroupName)
  params: {
    storageAccountName: exportsAccountName
    containerName: exportsContainerName
    otherContainerNames: exportsOtherContainerNames
    principalId: identity.outputs.principalId
  }
  dependsOn: [
    storage
  ]
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: appName
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: names.deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    configVaultName: configVault.outputs.name
    tokenVaultUri: tokenVault.outputs.uri
    runQueueName: runQueueName
    batchQueueName: batchQueueName
    stateContainerName: stateContainerName
    stagingContainerName: stagingContainerName
    exportsAccountUrl: exportsAccess.outputs.blobEndpoint
    exportsContainerName: exportsContainerName
    exportsOtherContainers: join(exportsOtherContainerNames, ',')
    exportsPrefix: exportsPrefix
    refreshSchedule: refreshSchedule
    defaultPhoneRegion: defaultPhoneRegion
    massRemovalThreshold: massRemovalThreshold
    removeChunkSize: removeChunkSize
    snapchatApiUrl: snapchatApiUrl
    snapchatAccountsUrl: snapchatAccountsUrl
    snapchatClientId: snapchatClientId
    snapchatMaxRequestsPerSecond: snapchatMaxRequestsPerSecond
    snapchatRetryBudgetSeconds: snapchatRetryBudgetSeconds
    snapchatRequestTimeoutSeconds: snapchatRequestTimeoutSeconds
    authClientCredentialInVault: authClientCredentialInVault
    authClientId: authClientId
    authTenantId: authTenantId
    authAllowedAudiences: authAllowedAudiences
  }
  // Roles first, so the host starts with access to storage, vaults and telemetry.
  dependsOn: [
    rbac
  ]
}

module auth 'app/auth.bicep' = {
  name: 'auth'
  params: {
    siteName: functionApp.outputs.name
    clientId: authClientId
    tenantId: authTenantId
    allowedAudiences: authAllowedAudiences
    clientCredentialSettingName: functionApp.outputs.authCredentialSettingName
  }
}

module diagnostics 'ops/diagnostics.bicep' = {
  name: 'diagnostics'
  params: {
    siteName: functionApp.outputs.name
    logAnalyticsName: monitoring.outputs.logAnalyticsName
  }
}

module workbook 'ops/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    displayName: names.workbook
  }
}

// Off until an address is given: see ops/alerts.bicep for why nothing is deployed without one.
module alerts 'ops/alerts.bicep' = if (!empty(alertEmailAddresses)) {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: names.alertPrefix
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    emailAddresses: alertEmailAddresses
    invalidSharePercent: alertInvalidSharePercent
    audienceDropPercent: alertAudienceDropPercent
    staleAfterDays: alertStaleAfterDays
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (names, endpoints and ids only; no secrets)
// ---------------------------------------------------------------------------------------------

output AZURE_RESOURCE_GROUP string = resourceGroup().name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output SNAPCHAT_REDIRECT_URI string = 'https://${functionApp.outputs.defaultHostName}/api/oauth/snapchat/callback'
output ENTRA_REDIRECT_URI string = 'https://${functionApp.outputs.defaultHostName}/.auth/login/aad/callback'
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output CONFIG_VAULT_NAME string = configVault.outputs.name
output CONFIG_VAULT_URI string = configVault.outputs.uri
output TOKEN_VAULT_NAME string = tokenVault.outputs.name
output TOKEN_VAULT_URI string = tokenVault.outputs.uri
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATION_INSIGHTS_NAME string = monitoring.outputs.appInsightsName
output LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output WORKBOOK_ID string = workbook.outputs.id
output ALERTS_ENABLED bool = !empty(alertEmailAddresses)
