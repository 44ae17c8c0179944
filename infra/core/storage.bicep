// Host storage of the function app: AzureWebJobsStorage (identity-based), the Flex deployment
// container, the app's state and staging containers and its queues (with their -poison
// queues, created up front so nothing has to create them at run time).
// Shared keys are disabled: nothing may use listKeys() or a connection string.

@description('Storage account name: 3-24 lowercase letters and digits.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Blob containers to create (deployment package, state, staging and, when the exports live here, the exports container).')
param containerNames array

@description('Queue the planner sends export runs to (RUN_QUEUE_NAME).')
param runQueueName string

@description('Queue of upload batches (BATCH_QUEUE_NAME).')
param batchQueueName string

@description('Container of per-run hash files (STAGING_CONTAINER); its blobs are deleted by a lifecycle rule.')
param stagingContainerName string

@minValue(1)
@description('Days after their last modification when staging blobs are deleted.')
param stagingRetentionDays int = 7

// Every queue the app triggers on, plus the poison queue the Functions host moves a message
// to after maxDequeueCount failed attempts (<queue>-poison, same storage account).
var queueNames = [
  runQueueName
  '${runQueueName}-poison'
  batchQueueName
  '${batchQueueName}-poison'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    // Entra ID only: no account keys, no SAS signed with them.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Child resources are declared at top level with `parent:` (not nested): easier to find, and
// pycep-parser (used by tests/test_infra.py) keeps only the last of several nested siblings.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Per-run hash files are only needed while a run is in flight.
resource stagingLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-staging-blobs'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
                'appendBlob'
              ]
              prefixMatch: [
                '${stagingContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: stagingRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueNames array = queueNames
