// Role assignments of the app's managed identity inside this resource group: least
// privilege, built-in roles only, one assignment per (scope, role). The exports container,
// which may live in another account and resource group, is handled by exports-access.bicep.
//
// | Scope               | Role                          | Why                                          |
// |---------------------|-------------------------------|----------------------------------------------|
// | host storage        | Storage Blob Data Owner       | identity-based AzureWebJobsStorage (leases,  |
// |                     |                               | timer monitor, keys), deployment container,  |
// |                     |                               | state and staging containers                 |
// | host storage        | Storage Queue Data Contributor| queue triggers, poison queues, SDK sends     |
// | config vault        | Key Vault Secrets User        | read snapchat-client-secret (KV reference)   |
// | tokens vault        | Key Vault Secrets Officer     | get/set/delete snapchat-refresh-token-<id>   |
// | Application Insights| Monitoring Metrics Publisher  | telemetry with local auth disabled           |
//
// Key Vault trade-off: the refresh-token secrets are named at run time
// (snapchat-refresh-token-<connection id>), so an assignment scoped to one secret cannot be
// made at deploy time, and Secrets Officer at vault scope lets the holder read, overwrite and
// delete EVERY secret in that vault. The tokens therefore get a vault of their own: Officer
// there reaches only refresh tokens, and the static client secret lives in the config vault
// where the app is only Secrets User (read). A leak of the app identity can still rewrite
// tokens, but cannot replace the Snap client secret.

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param principalId string

@description('Host storage account name.')
param storageAccountName string

@description('Application Insights component name.')
param appInsightsName string

@description('Vault holding the static Snapchat client secret.')
param configVaultName string

@description('Vault holding the refresh tokens the app rewrites.')
param tokenVaultName string

// Built-in role definition ids (the same in every tenant).
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource configVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: configVaultName
}

resource tokenVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: tokenVaultName
}

resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleIds.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource configVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configVault.id, principalId, roleIds.keyVaultSecretsUser)
  scope: configVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource tokenVaultSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tokenVault.id, principalId, roleIds.keyVaultSecretsOfficer)
  scope: tokenVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appInsightsMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
