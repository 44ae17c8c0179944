// One Key Vault with RBAC authorisation (no access policies) and purge protection.
// main.bicep deploys it twice: a "config" vault for the static Snapchat client secret
// (app: Key Vault Secrets User) and a "tokens" vault for the refresh tokens the app rewrites
// (app: Key Vault Secrets Officer). See app/rbac.bicep for why there are two.

@description('Vault name: 3-24 characters, letters, digits and hyphens, starting with a letter.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Days a deleted vault or secret stays recoverable. With purge protection the vault name stays reserved for this long after deletion.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Data-plane access is granted with Azure RBAC role assignments only.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Cannot be turned off again; deleted secrets cannot be purged before retention ends.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Flex Consumption without VNet integration reaches the vault over its public endpoint.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
