// Read-only access of the app's identity to the Customer Insights exports container (and to
// each of EXPORTS_OTHER_CONTAINERS).
// main.bicep deploys this module into the resource group of the exports storage account,
// which may be an existing account the user names (or the host account). The role is scoped
// to the one container, never the account.

@description('Storage account holding the exports (must exist).')
param storageAccountName string

@description('Container Customer Insights exports to (must exist).')
param containerName string

@description('Other containers of the account an export may name (each must exist).')
param otherContainerNames array = []

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param principalId string

// Built-in role definition id (the same in every tenant).
var roleIds = {
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
}

resource exportsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource exportsBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: exportsAccount
  name: 'default'
}

resource exportsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: exportsBlobService
  name: containerName
}

resource exportsBlobDataReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportsContainer.id, principalId, roleIds.storageBlobDataReader)
  scope: exportsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource otherContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in otherContainerNames: {
  parent: exportsBlobService
  name: name
}]

resource otherBlobDataReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in otherContainerNames: {
  name: guid(otherContainers[i].id, principalId, roleIds.storageBlobDataReader)
  scope: otherContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// EXPORTS_ACCOUNT_URL (an endpoint, not a secret).
output blobEndpoint string = exportsAccount.properties.primaryEndpoints.blob
